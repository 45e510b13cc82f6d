"""The command line every service shares: `run` (the default) and `health`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import NoReturn

import typer
from pydantic import ValidationError

from .health import probe
from .service import Service
from .settings import ServiceSettings


def configuration_problem(exc: ValueError) -> str:
    """What is wrong with the configuration, in one line. A settings validation error names the
    fields and the rule each breaks, never the value given (it may be a secret or a URL with a
    password in it)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"LATCHKEY_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
    return str(exc)


def exit_misconfigured(command: str, exc: ValueError) -> NoReturn:
    """Say on stderr what is wrong with the configuration and exit 2 (no traceback)."""
    typer.echo(f"{command}: configuration error: {configuration_problem(exc)}", err=True)
    sys.exit(2)


def service_cli(
    name: str, settings_type: type[ServiceSettings], build: Callable[[ServiceSettings], Service]
) -> typer.Typer:
    """A typer app for service `name`; `build` wires the service from its settings."""
    cli = typer.Typer(
        name=f"latchkey-{name}",
        help=f"Latchkey {name}. Configured by LATCHKEY_* environment variables (see docs/configuration.md). "
        "Without a command: run.",
        no_args_is_help=False,
        add_completion=False,
    )

    @cli.callback(invoke_without_command=True)
    def default(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            ctx.invoke(run)

    @cli.command()
    def run() -> None:
        """Start the service and run until SIGTERM/SIGINT (in-flight work finishes first).

        The default command. A configuration the service cannot start with is one line, exit status 2.
        """
        try:
            service = build(settings_type())
        except ValueError as exc:  # the settings' validation, or a check made while wiring the service
            exit_misconfigured(f"latchkey-{name}", exc)
        service.run_forever()

    @cli.command()
    def health(
        path: str = typer.Option("/readyz", help="/readyz (ready to serve) or /livez (process alive)"),
    ) -> None:
        """Exit 0 if the local service reports healthy (for container health checks); 1 if it does not;
        2 if the settings are wrong (then no probe could tell)."""
        try:
            settings = settings_type()
        except ValueError as exc:
            exit_misconfigured(f"latchkey-{name} health", exc)
        ok, body = probe(settings.health_host, settings.health_port, path)
        typer.echo(body)
        sys.exit(0 if ok else 1)

    return cli
