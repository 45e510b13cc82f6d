"""Fixtures for connector tests: a control-plane key pair, connector.yaml on disk, signed commands."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from latchkey.connector.config import ConnectorConfig, load_config
from latchkey.contracts import GrantCommand, Principal, RevokeCommand, RotateCommand, utcnow, uuid7
from latchkey.runtime.signing import CommandSigner, generate_private_key, load_private_key, public_key_of

TEMPLATES = Path(__file__).parents[1] / "templates"


@pytest.fixture(scope="session")
def control_plane_key() -> str:
    return generate_private_key()


@pytest.fixture(scope="session")
def signer(control_plane_key: str) -> CommandSigner:
    return CommandSigner(load_private_key(control_plane_key), key_id="cp-1")


def write_config(
    folder: Path,
    signer_key: str,
    integrations: list[dict[str, Any]],
    connector_id: str = "test-conn",
) -> Path:
    """connector.yaml + a copy of the default templates in `folder`; returns the file's path."""
    templates = folder / "templates"
    if not templates.exists():
        shutil.copytree(TEMPLATES, templates)
    document = {
        "apiVersion": "latchkey/v1",
        "kind": "Connector",
        "connector_id": connector_id,
        "control_plane_keys": {"cp-1": public_key_of(load_private_key(signer_key))},
        "templates_dirs": ["templates"],
        "integrations": integrations,
    }
    path = folder / "connector.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def noop_config(tmp_path: Path, control_plane_key: str) -> ConnectorConfig:
    return load_config(
        write_config(tmp_path, control_plane_key, [{"id": "bench", "type": "noop", "templates": ["access"]}])
    )


CommandFactory = Callable[..., Any]


@pytest.fixture
def make_command(signer: CommandSigner) -> CommandFactory:
    """Build (and by default sign) a command addressed to `test-conn`."""

    def build(kind: str = "grant", *, sign: bool = True, **fields: Any) -> Any:
        now = utcnow()
        base: dict[str, Any] = {
            "command_id": str(uuid7()),
            "grant_id": str(uuid7()),
            "connector_id": "test-conn",
            "integration_id": "bench",
            "issued_at": now,
            "not_after": now + timedelta(minutes=5),
            "producer": "flow-engine",
        }
        if kind in ("grant", "revoke", "rotate"):
            base |= {"template": "access", "resource": "noop-resource", "principal": Principal(user_id="u-1")}
        if kind == "grant":
            base["expires_at"] = now + timedelta(hours=1)
        base.update(fields)
        model = {"grant": GrantCommand, "revoke": RevokeCommand, "rotate": RotateCommand}.get(kind)
        if model is None:
            from latchkey.contracts import SyncInventoryCommand

            model = SyncInventoryCommand
        command = model(**base)
        return signer.sign(command) if sign else command

    return build
