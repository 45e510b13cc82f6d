"""The command line every service shares: `run` (the default) and `health`."""

from __future__ import annotations

import sys
from collections.abc import Callable

import typer

from .health import probe
from .service import Service
from .settings import ServiceSettings


def service_cli(
    name: str, settings_type: type[ServiceSettings], build: Callable[[ServiceSettings], Service]
) -> typer.Typer:
    """A typer app for service `name`; `build` wires the service from its settings."""
    cli = typer.Typer(
        name=f"latchkey-{name}",
        help=f"Latchkey {name}. Configured by LATCHKEY_* environment variables (see docs/configuration.md).",
        no_args_is_help=False,
        add_completion=False,
    )

    @cli.callback(invoke_without_command=True)
    def default(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            ctx.invoke(run)

    @cli.command()
    def run() -> None:
        """Start the service and run until SIGTERM/SIGINT (in-flight work finishes first)."""
        build(settings_type()).run_forever()

    @cli.command()
    def health(
        path: str = typer.Option("/readyz", help="/readyz (ready to serve) or /livez (process alive)"),
    ) -> None:
        """Exit 0 if the local service reports healthy (for container health checks)."""
        settings = settings_type()
        ok, body = probe(settings.health_host, settings.health_port, path)
        typer.echo(body)
        sys.exit(0 if ok else 1)

    return cli
