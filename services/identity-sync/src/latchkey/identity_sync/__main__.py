"""`latchkey-identity-sync run | run-once [--dry-run] [--incremental] | health`."""

from __future__ import annotations

import asyncio
import sys
import time

import sqlalchemy as sa
import typer

from latchkey.runtime import ServiceSettings
from latchkey.runtime.cli import exit_misconfigured, service_cli
from latchkey.runtime.db import database_location
from latchkey.runtime.kafka import ensure_topics
from latchkey.runtime.migrations import upgrade_async
from latchkey.runtime.service import Service

from .app import MIGRATIONS, build_app, build_service
from .providers import IdentityProvider, ProviderError, build_provider
from .settings import IdentitySyncSettings
from .store import SCHEMA
from .sync import SyncEngine, SyncReport


def _build(settings: ServiceSettings) -> Service:
    assert isinstance(settings, IdentitySyncSettings)
    service, _ = build_app(settings)
    return service


app = service_cli("identity-sync", IdentitySyncSettings, _build)


def print_plan(report: SyncReport, *, dry_run: bool) -> None:
    verb = "would publish" if dry_run else "published"
    typer.echo(
        f"{report.provider} {report.mode} sync: "
        f"{report.users_listed} users, {report.groups_listed} groups listed"
    )
    plan = report.plan
    if plan is None or plan.event_count == 0:
        typer.echo("no changes")
        return
    for user in plan.upserted_users:
        state = "active" if user.active else "inactive"
        typer.echo(f"  {verb} user.upserted     {user.id} <{user.email}> {state} manager={user.manager_id}")
    for user_id in plan.deactivated_users:
        typer.echo(f"  {verb} user.deactivated  {user_id}")
    for group in plan.upserted_groups:
        typer.echo(f"  {verb} group.upserted    {group.id} {group.name!r} members={len(group.member_ids)}")
    for group_id in plan.delete_groups:
        typer.echo(f"  {verb} group.deleted     {group_id} (+ tombstone)")
    typer.echo(f"{report.events} events")


async def wait_relayed(service: Service, timeout: float = 300.0) -> None:
    """Until the outbox is empty: this process's relay (or another replica's) published the run."""
    deadline = time.monotonic() + timeout
    while True:
        async with service.engine.connect() as conn:
            unsent = await conn.scalar(
                sa.text(f'SELECT count(*) FROM "{SCHEMA}".outbox WHERE sent_at IS NULL')
            )
        if not unsent:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{unsent} events still in the outbox; they will be relayed by the service")
        await asyncio.sleep(0.05)


async def run_once(
    settings: IdentitySyncSettings, provider: IdentityProvider, *, dry_run: bool, incremental: bool
) -> SyncReport:
    service = build_service(settings)
    try:
        await upgrade_async(settings.sync_database_url, MIGRATIONS, SCHEMA)
        engine = SyncEngine(provider, service.unit_of_work, producer=settings.service_name)
        if dry_run:
            return await engine.run("incremental" if incremental else "full", dry_run=True)
        await ensure_topics(settings, service.topics)
        assert service.relay is not None
        await service.relay.start()
        try:
            report = await engine.run("incremental" if incremental else "full")
            await wait_relayed(service)
        finally:
            await service.relay.stop()
        return report
    finally:
        await provider.aclose()
        await service.engine.dispose()


@app.command("run-once")
def run_once_command(
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Print what would change; change no user or group and publish nothing (the plan is a diff "
        "against what was published last, so the database is read, and its tables made if missing)",
    ),
    incremental: bool = typer.Option(False, "--incremental", help="Delta/diff run instead of a full sync"),
) -> None:
    """One sync run, then exit (non-zero if the IdP could not be read completely)."""
    try:
        settings = IdentitySyncSettings()
        provider = build_provider(settings)  # no I/O yet: checks the configuration
    except ValueError as exc:
        exit_misconfigured("latchkey-identity-sync run-once", exc)
    try:
        report = asyncio.run(run_once(settings, provider, dry_run=dry_run, incremental=incremental))
    except ProviderError as exc:
        typer.echo(f"sync failed, nothing was published: {exc}", err=True)
        sys.exit(2)
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        where = database_location(settings.sync_database_url)
        typer.echo(
            f"sync failed, nothing was published: cannot reach PostgreSQL at {where} "
            f"(LATCHKEY_DATABASE_URL): {type(getattr(exc, 'orig', None) or exc).__name__}",
            err=True,
        )
        sys.exit(2)
    print_plan(report, dry_run=dry_run)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
