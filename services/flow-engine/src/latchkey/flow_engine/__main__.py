"""`python -m latchkey.flow_engine` (or `latchkey-flow-engine`): run, health, and a signing key helper."""

from __future__ import annotations

from typing import Any

import typer

from latchkey.runtime.cli import service_cli
from latchkey.runtime.signing import generate_private_key, load_private_key, public_key_of

from .settings import FlowEngineSettings


def _build(settings: Any) -> Any:
    from .app import FlowEngine

    try:
        return FlowEngine(settings).service
    except ValueError as exc:  # a missing or malformed signing key: say so, no traceback
        typer.echo(f"flow-engine cannot start: {exc}", err=True)
        raise typer.Exit(2) from None


app = service_cli("flow-engine", FlowEngineSettings, _build)


@app.command("keygen")
def keygen() -> None:
    """Print a new Ed25519 signing key (for LATCHKEY_SIGNING_KEY) and its public key (for connectors)."""
    private = generate_private_key()
    typer.echo(f"LATCHKEY_SIGNING_KEY={private}")
    typer.echo(f"public key: {public_key_of(load_private_key(private))}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
