"""`latchkey-expiry` / `python -m latchkey.expiry`: run the service, probe its health, list pending timers."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import create_async_engine

from latchkey.runtime.cli import service_cli

from .app import build
from .settings import ExpirySettings
from .store import PendingTimer, pending_due_before

cli = service_cli("expiry", ExpirySettings, build)

_RELATIVE = re.compile(r"^\+?(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_moment(text: str, now: datetime) -> datetime:
    """`2026-11-25T13:00:00Z` (RFC 3339; UTC if no zone), or a span from now: `90s`, `15m`, `2h`, `+7d`."""
    if match := _RELATIVE.match(text.strip()):
        return now + timedelta(**{_UNITS[match[2]]: float(match[1])})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"{text!r} is neither a timestamp (2026-11-25T13:00:00Z) nor a span from now (15m, 2h, 7d)"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cli.command("list")
def list_timers(
    due_before: str = typer.Option(
        "365d", "--due-before", help="Timestamp (RFC 3339) or span from now (90s, 15m, 2h, 7d)"
    ),
    limit: int = typer.Option(100, min=1, help="Show at most this many, oldest due first"),
) -> None:
    """Show pending timers due before a moment, oldest first (overdue ones are marked red)."""
    now = datetime.now(UTC)
    before = parse_moment(due_before, now)
    settings = ExpirySettings()
    timers = asyncio.run(_pending(settings.sync_database_url, before, limit))
    table = Table(title=f"Pending timers due before {before.isoformat(timespec='seconds')}")
    for column in ("due at (UTC)", "in", "kind", "request", "attempt", "timer id"):
        table.add_column(column, no_wrap=column != "request")
    for timer in timers:
        left = (timer.due_at - now).total_seconds()
        table.add_row(
            timer.due_at.astimezone(UTC).isoformat(timespec="seconds"),
            f"[red]{_span(-left)} overdue[/red]" if left < 0 else _span(left),
            timer.kind,
            timer.request_id,
            str(timer.attempt),
            str(timer.id),
        )
    console = Console()
    console.print(table)
    console.print(f"{len(timers)} shown" + (f" (limit {limit})" if len(timers) == limit else ""))


async def _pending(url: str, before: datetime, limit: int) -> list[PendingTimer]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list(await pending_due_before(conn, before, limit))
    finally:
        await engine.dispose()


def _span(seconds: float) -> str:
    s = int(seconds)
    if s >= 86_400:
        return f"{s // 86_400}d{s % 86_400 // 3_600}h"
    if s >= 3_600:
        return f"{s // 3_600}h{s % 3_600 // 60}m"
    if s >= 60:
        return f"{s // 60}m{s % 60}s"
    return f"{s}s"


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
