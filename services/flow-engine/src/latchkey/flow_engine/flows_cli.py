"""`latchkey-flows`: check Access Flow files and publish them to `access.flows.v1`.

    latchkey-flows validate examples/flows/
    latchkey-flows apply examples/flows/*.yaml [--delete old-flow] [--dry-run]

Kafka is configured like every service (LATCHKEY_KAFKA_BOOTSTRAP, LATCHKEY_TOPIC_PREFIX).
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from pydantic import Field

from latchkey.contracts import FLOWS, AccessFlowDeleted, AccessFlowUpserted
from latchkey.runtime import ServiceSettings
from latchkey.runtime.cli_support import CONNECT_SECONDS, KAFKA_ERRORS, load_settings, run_cli, unreachable
from latchkey.runtime.kafka import ensure_topics, make_producer

from .domain.documents import FlowError, LoadedFlow, parse_flows
from .domain.flow import flow_digest

cli = typer.Typer(
    name="latchkey-flows", help="Validate and apply Latchkey Access Flows.", add_completion=False
)


class FlowsSettings(ServiceSettings):
    service_name: str = "latchkey-flows"
    applied_by: str | None = Field(default=None, description="Who is applying (default: the OS user)")


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            found.append(path)
    return found


def load(paths: list[Path]) -> tuple[list[LoadedFlow], list[FlowError]]:
    """Every flow in `paths` (files or folders) and every error, names unique across all files."""
    flows: list[LoadedFlow] = []
    errors: list[FlowError] = []
    for path in _files(paths):
        try:
            text = path.read_text()
        except OSError as exc:
            errors.append(FlowError(str(path), 0, "", f"cannot read: {exc.strerror}"))
            continue
        found, problems = parse_flows(text, str(path))
        flows.extend(found)
        errors.extend(problems)
    seen: dict[str, LoadedFlow] = {}
    for loaded in flows:
        first = seen.setdefault(loaded.flow.name, loaded)
        if first is not loaded and first.file != loaded.file:
            errors.append(
                FlowError(
                    loaded.file,
                    loaded.line,
                    "metadata.name",
                    f"flow {loaded.flow.name!r} is also defined at {first.file}:{first.line}",
                )
            )
    return flows, errors


def _report(errors: list[FlowError]) -> None:
    for error in errors:
        typer.echo(str(error), err=True)
    typer.echo(f"{len(errors)} error(s); nothing was applied.", err=True)


@cli.command()
def validate(paths: Annotated[list[Path], typer.Argument(help="AccessFlow YAML files or folders")]) -> None:
    """Check every flow; print each error as FILE:LINE: FIELD: MESSAGE. Exit 1 on any error, or when
    the paths hold no flow at all (a mistyped folder is not a pass)."""
    flows, errors = load(paths)
    if errors:
        for error in errors:
            typer.echo(str(error), err=True)
        raise typer.Exit(1)
    if not flows:
        _nothing_found(paths)
    for loaded in flows:
        kind = (
            "automatic"
            if loaded.flow.spec.approval.automatic
            else f"{len(loaded.flow.spec.approval.steps)} step(s)"
        )
        typer.echo(f"ok  {loaded.flow.name}  ({loaded.file}:{loaded.line}, {kind})")


def _nothing_found(paths: list[Path]) -> NoReturn:
    typer.echo(f"error: no AccessFlow found in {' '.join(str(p) for p in paths)}", err=True)
    raise typer.Exit(1)


async def publish(
    settings: FlowsSettings,
    flows: list[LoadedFlow],
    deletes: list[str],
    applied_by: str | None,
    done: Callable[[str], None] = lambda _: None,
) -> None:
    """Publish upserts and deletes to access.flows.v1; `done` is told each one Kafka acknowledged. Kafka
    out of reach: CliError within CONNECT_SECONDS."""
    try:
        await asyncio.wait_for(ensure_topics(settings, [FLOWS], report=False), CONNECT_SECONDS)
        producer = make_producer(settings)
        await asyncio.wait_for(producer.start(), CONNECT_SECONDS)
    except KAFKA_ERRORS as exc:
        raise unreachable(settings, exc) from None
    topic = settings.topic(FLOWS.name)
    try:
        for loaded in flows:
            document = loaded.flow.document()
            event = AccessFlowUpserted(
                name=loaded.flow.name,
                spec=document,
                digest=flow_digest(document),
                applied_by=applied_by,
                producer=settings.service_name,
            )
            await producer.send_and_wait(topic, event.model_dump_json().encode(), key=event.name.encode())
            done(f"applied  {loaded.flow.name}  ({loaded.file}:{loaded.line})")
        for name in deletes:
            deleted = AccessFlowDeleted(name=name, applied_by=applied_by, producer=settings.service_name)
            await producer.send_and_wait(topic, deleted.model_dump_json().encode(), key=name.encode())
            await producer.send_and_wait(topic, None, key=name.encode())  # tombstone: compaction forgets it
            done(f"deleted  {name}")
    finally:
        await producer.stop()


@cli.command()
def apply(
    paths: Annotated[list[Path] | None, typer.Argument(help="AccessFlow YAML files or folders")] = None,
    delete: Annotated[
        list[str] | None, typer.Option("--delete", help="Delete the flow NAME (repeatable)")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show what would be published")
    ] = False,
) -> None:
    """Validate, then publish each flow (upsert) and each --delete to access.flows.v1."""
    delete = delete or []
    flows, errors = load(paths or [])
    if errors:
        _report(errors)
        raise typer.Exit(1)
    if paths and not flows:
        _nothing_found(paths)
    if not flows and not delete:
        typer.echo("nothing to apply: give flow files or --delete NAME", err=True)
        raise typer.Exit(2)
    settings = load_settings(FlowsSettings)
    who = settings.applied_by or getpass.getuser()
    if dry_run:
        for loaded in flows:
            typer.echo(f"would apply  {loaded.flow.name}  ({loaded.file}:{loaded.line})")
        for name in delete:
            typer.echo(f"would delete  {name}")
        return
    # each line once Kafka has it, so what is printed is what was published
    run_cli(lambda: publish(settings, flows, delete, who, done=typer.echo))
    typer.echo(f"published to {settings.topic(FLOWS.name)}")


def main() -> None:
    cli()
