"""`python -m latchkey.connector [run|health|validate-config]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from latchkey.runtime.cli import service_cli

from .config import ConfigError, load_config
from .settings import ConnectorSettings


def _build(settings: Any) -> Any:
    from .app import build

    return build(settings)


app = service_cli("connector", ConnectorSettings, _build)


@app.command("validate-config")
def validate_config(
    path: Annotated[
        Path | None, typer.Argument(help="connector.yaml (default: LATCHKEY_CONFIG_PATH or ./connector.yaml)")
    ] = None,
) -> None:
    """Check connector.yaml and every template it allows, without connecting anywhere."""
    target = path or ConnectorSettings().config_path
    try:
        config = load_config(target)
    except ConfigError as exc:
        typer.echo(f"invalid: {exc}", err=True)
        sys.exit(1)
    typer.echo(f"ok: connector {config.connector_id} ({target})")
    typer.echo(f"  control-plane keys: {sorted(config.public_keys)}")
    for integration in config.integrations.values():
        typer.echo(
            f"  integration {integration.id} ({integration.type}): templates {integration.templates}, "
            f"secret {integration.secret or '-'}"
        )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
