"""`latchkey-audit`: who had what access, when, approved by whom, and whether it ended, rebuilt from
`access.lifecycle.v1` alone (no database: any auditor with read access to the topic can run it).

    latchkey-audit report --since 2026-11-01 --until 2026-12-01 --format csv > november.csv
    latchkey-audit report --held            (access that may still work right now)
    latchkey-audit report --requester u-bob --integration appdb

Kafka is configured like every service (LATCHKEY_KAFKA_BOOTSTRAP, LATCHKEY_TOPIC_PREFIX). It reads
the topic from its start to its end as of the moment it starts, outside any consumer group.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Annotated

import typer
from pydantic import ValidationError

from latchkey.contracts import LIFECYCLE
from latchkey.contracts.audit import HELD_ACCESS, OUTCOMES, AccessLedger, AccessRecord
from latchkey.runtime import ServiceSettings
from latchkey.runtime.cli_support import load_settings, read_to_end, run_cli

from .domain.flow import format_duration

cli = typer.Typer(
    name="latchkey-audit",
    help="Who had what access, when, approved by whom: rebuilt from the lifecycle topic alone.",
    rich_markup_mode="markdown",
    add_completion=False,
    no_args_is_help=True,
)


@cli.callback()
def _commands() -> None:
    """Who had what access, when, approved by whom: rebuilt from the lifecycle topic alone."""


class AuditSettings(ServiceSettings):
    service_name: str = "latchkey-audit"


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


async def read_ledger(settings: ServiceSettings) -> tuple[AccessLedger, int]:
    """Every lifecycle event up to the topic's end as of now, folded; and how many records could not be
    read as lifecycle events (each counted, none fatal)."""
    ledger = AccessLedger()
    unreadable = 0
    async for record in read_to_end(settings, settings.topic(LIFECYCLE.name)):
        if record.value is None:
            continue
        try:
            ledger.add(LIFECYCLE.parse(record.value))
        except (ValidationError, ValueError):
            unreadable += 1
    return ledger, unreadable


def _moment(value: str | None, option: str, *, end_of_day: bool = False) -> datetime | None:
    """An ISO date or date-time; naive values are UTC, a bare date is that day's start (or end)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (2026-12-01) or date-time", param_hint=option
        ) from None
    if len(value) == 10 and end_of_day:  # a bare date as --until: the whole day
        parsed = datetime.combine(parsed.date(), time.max)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def select(
    records: list[AccessRecord],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    requester: str | None = None,
    integration: str | None = None,
    outcomes: set[str] | None = None,
    now: datetime | None = None,
) -> list[AccessRecord]:
    """The records whose story overlaps [since, until] and that match every other filter."""
    now = now or datetime.now(UTC)
    chosen = []
    for record in records:
        start = record.requested_at or record.activated_at or record.ended_at
        end = record.ended_at or now
        if since is not None and end < since:
            continue
        if until is not None and start is not None and start > until:
            continue
        if requester is not None and requester not in (record.requester_id, record.requester_email):
            continue
        if integration is not None and record.integration_id != integration:
            continue
        if outcomes is not None and record.outcome not in outcomes:
            continue
        chosen.append(record)
    return chosen


COLUMNS = ("requested", "request", "requester", "access", "flow", "approved by", "held", "outcome")


def _row(record: AccessRecord) -> tuple[str, ...]:
    def when(moment: datetime | None) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    access = f"{record.permission or '?'} on {record.resource or '?'} ({record.integration_id or '?'})"
    approved = "automatic" if record.automatic else ", ".join(record.approver_ids)
    if record.extended_by:
        approved += f"; extended by {', '.join(record.extended_by)}"
    held = ""
    if record.activated_at is not None:
        until = when(record.ended_at) if record.ended_at else f"(due {when(record.expires_at)})"
        held = f"{when(record.activated_at)} → {until}"
        if record.held_for_seconds is not None:
            held += f" ({format_duration(max(1, round(record.held_for_seconds)))})"
    elif record.may_have_held:  # a failed grant that may have taken effect, revoked to be sure
        held = f"possibly, until {when(record.ended_at)}" if record.ended_at else "possibly (being revoked)"
    outcome = record.outcome + (f": {record.end_reason}" if record.end_reason else "")
    if not record.complete:
        outcome += " [story incomplete]"
    return (
        when(record.requested_at),
        record.request_id,
        record.requester_email or record.requester_id or "(not proven)",
        access,
        record.flow_name or "",
        approved,
        held,
        outcome,
    )


def render(records: list[AccessRecord], form: Format) -> str:
    if form is Format.json:
        return json.dumps([r.as_dict() for r in records], indent=2)
    if form is Format.csv:
        out = io.StringIO()
        fields = list(AccessRecord("").as_dict())
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for record in records:
            row = record.as_dict()
            writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})
        return out.getvalue().rstrip("\n")
    # plain aligned columns, a line per request, never wrapped: it is read, grepped and diffed
    rows = [COLUMNS, *(_row(record) for record in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@cli.command()
def report(
    since: Annotated[
        str | None, typer.Option(help="Only access whose story reaches this date or later")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Only access whose story starts by this date")] = None,
    requester: Annotated[str | None, typer.Option(help="A requester's user id or email")] = None,
    integration: Annotated[str | None, typer.Option(help="An integration id, e.g. appdb")] = None,
    outcome: Annotated[
        list[str] | None, typer.Option(help=f"Only these outcomes (repeatable): {', '.join(OUTCOMES)}")
    ] = None,
    held: Annotated[
        bool, typer.Option("--held", help="Only access that may still work now (active, revoking, overdue)")
    ] = False,
    form: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
) -> None:
    """One line per access request: who asked for what, the flow, who approved, when the access was
    held, and how it ended (revoked and why, denied and why, ...).

    Dates are ISO (2026-12-01 or 2026-12-01T09:00+01:00; without a zone, UTC). Exit status 0, or 2 on a
    usage or connection error. Records the topic holds that are not lifecycle events are counted on
    standard error."""
    since_at = _moment(since, "--since")
    until_at = _moment(until, "--until", end_of_day=True)
    unknown = set(outcome or ()) - set(OUTCOMES)
    if unknown:
        raise typer.BadParameter(f"unknown outcome(s) {sorted(unknown)}; known: {', '.join(OUTCOMES)}")
    outcomes = set(HELD_ACCESS) if held else (set(outcome) if outcome else None)
    settings = load_settings(AuditSettings)

    async def work() -> tuple[AccessLedger, int]:
        return await read_ledger(settings)

    ledger, unreadable = run_cli(work)
    records = select(
        ledger.records(),
        since=since_at,
        until=until_at,
        requester=requester,
        integration=integration,
        outcomes=outcomes,
    )
    text = render(records, form)
    if text:
        sys.stdout.write(text + "\n")
    summary = f"{len(records)} of {len(ledger.records())} requests"
    if unreadable:
        summary += f"; {unreadable} records were not readable lifecycle events (a newer Latchkey?)"
    typer.echo(summary, err=True)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
