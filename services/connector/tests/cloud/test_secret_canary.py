"""A unique secret fetched through every provider, on success and on every error path, appears nowhere:
not in any log record (SDK DEBUG logging included), exception message, repr or formatted traceback."""

from __future__ import annotations

import base64
import json
import logging
import traceback

import pytest

from latchkey.connector.secrets import SecretResolver, SecretUnavailable

from .conftest import MotoServer, unique
from .fakes.gcp_secret_manager import FakeSecretManager
from .kube_apiserver import KubeApiServer
from .lowkey_vault import LowkeyVault


async def test_canary_secret_never_reaches_logs_or_errors(
    moto_server: MotoServer,
    kubernetes_if_available: KubeApiServer | None,
    gcp_secret_manager: FakeSecretManager,
    key_vault_if_available: LowkeyVault | None,
    resolver: SecretResolver,
    canary: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bundle = json.dumps({"password": canary})
    aws_json, aws_plain = unique("canary-json"), unique("canary-plain")
    sm = moto_server.client("secretsmanager")
    sm.create_secret(Name=aws_json, SecretString=bundle)  # type: ignore[attr-defined]
    sm.create_secret(Name=aws_plain, SecretString=canary)  # type: ignore[attr-defined]
    k8s_name = unique("canary")
    if kubernetes_if_available is not None:
        kubernetes_if_available.core().create_namespaced_secret(
            "default",
            {
                "metadata": {"name": k8s_name},
                "data": {
                    "password": base64.b64encode(canary.encode()).decode(),
                    # the API server keeps data base64; these bytes are not UTF-8, and the decode
                    # error would carry them
                    "broken": base64.b64encode(canary.encode() + b"\xff\xfe").decode(),
                },
            },
        )
    gcp_secret = f"projects/acme/secrets/{unique('canary')}"
    gcp_good = gcp_secret_manager.add_version(gcp_secret, canary.encode())
    gcp_bad = gcp_secret_manager.add_version(gcp_secret, canary.encode() + b"\xff\xfe")
    kv_name = unique("canary")
    if key_vault_if_available is not None:
        key_vault_if_available.set_secret(kv_name, bundle)
    monkeypatch.setenv("LATCHKEY_CANARY", canary)

    succeeding = [
        f"aws-sm://{aws_json}#password",
        f"aws-sm://{aws_plain}",
        f"gcp-sm://{gcp_good}",
        "env://LATCHKEY_CANARY",
    ]
    failing = [
        f"aws-sm://{aws_json}#absent",  # JSON without that field
        f"aws-sm://{aws_plain}#password",  # not JSON: json's error carries the document
        f"gcp-sm://{gcp_bad}",  # not UTF-8: UnicodeDecodeError carries the bytes
        "env://LATCHKEY_CANARY#password",
    ]
    if kubernetes_if_available is not None:  # else skipped in its own tests, with the reason
        succeeding.append(f"k8s://default/{k8s_name}/password")
        failing.append(f"k8s://default/{k8s_name}/broken")  # not UTF-8
    if key_vault_if_available is not None:
        succeeding.append(f"azure-kv://localhost/{kv_name}#password")
        failing.append(f"azure-kv://localhost/{kv_name}#absent")
    errors: list[SecretUnavailable] = []
    with caplog.at_level(logging.DEBUG):
        for ref in succeeding:
            secret = await resolver.fetch(ref)
            assert secret.reveal() == canary, ref
            logging.getLogger("latchkey.test").info("fetched %s: %s %r", ref, secret, secret)
        for ref in failing:
            with pytest.raises(SecretUnavailable) as caught:
                await resolver.fetch(ref)
            errors.append(caught.value)
            logging.getLogger("latchkey.test").exception("fetch of %s failed", ref, exc_info=caught.value)

    assert len(caplog.records) > len(succeeding) + len(failing)  # SDK DEBUG records were captured too
    assert canary not in caplog.text
    for record in caplog.records:
        assert canary not in record.getMessage()
    for error in errors:
        assert error.ref in str(error)
        rendered = "".join(traceback.format_exception(error)) + repr(error) + repr(error.args)
        assert canary not in rendered
        assert canary[8:20] not in rendered  # not even a fragment
