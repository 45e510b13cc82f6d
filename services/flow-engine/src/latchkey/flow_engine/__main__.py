"""`python -m latchkey.flow_engine` (or `latchkey-flow-engine`): run, health, and a signing key helper."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

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
def keygen(
    private_key_file: Annotated[
        Path | None,
        typer.Option(
            help="Write the signing key to this file (mode 0600) instead of printing it; a key already "
            "there is kept, so running this at every start changes nothing (LATCHKEY_SIGNING_KEY_FILE)"
        ),
    ] = None,
    public_key_file: Annotated[
        Path | None,
        typer.Option(help='Also write the public key to this file (connector.yaml\'s "file:<path>")'),
    ] = None,
) -> None:
    """A new Ed25519 signing key (for LATCHKEY_SIGNING_KEY) and its public key (for connectors)."""
    if private_key_file is None:
        private = generate_private_key()
        typer.echo(f"LATCHKEY_SIGNING_KEY={private}")
    elif private_key_file.exists():
        try:
            private = private_key_file.read_text().strip()
            load_private_key(private)
        except (OSError, ValueError) as exc:
            typer.echo(f"keygen: {private_key_file} holds no usable signing key: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"signing key: kept {private_key_file}")
    else:
        private = generate_private_key()
        try:
            fd = os.open(private_key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            typer.echo(f"keygen: cannot write {private_key_file}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
        with os.fdopen(fd, "w") as out:
            out.write(private + "\n")
        typer.echo(f"signing key: wrote {private_key_file}")
    public = public_key_of(load_private_key(private))
    if public_key_file is not None:
        try:
            public_key_file.write_text(public + "\n")
        except OSError as exc:
            typer.echo(f"keygen: cannot write {public_key_file}: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"public key: {public}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
