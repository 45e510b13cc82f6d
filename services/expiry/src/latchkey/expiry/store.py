"""Expiry's tables and queries: durable timers and the progress of each revocation.

Locking, so that replicas and the consumer never deadlock: the firing loop only ever *skips* locked
rows (`SKIP LOCKED` on timers and revocations); the lifecycle consumer may wait. A waiter is never
waited on, so no cycle can form.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from latchkey.contracts import TimerKind, uuid7
from latchkey.runtime import tracing
from latchkey.runtime.db import (
    Compiled,
    Read,
    array_params,
    insert_from_arrays,
    read_one,
)

from .domain import ALL_KINDS, Revocation, TimerChanges

SCHEMA = "expiry"
NOTIFY_CHANNEL = "latchkey_expiry_timers"
"""NOTIFY payload: the earliest due time (epoch seconds) just committed, so other replicas wake early."""

metadata = sa.MetaData(schema=SCHEMA)

_kinds = ", ".join(f"'{k}'" for k in sorted(ALL_KINDS))

timers = sa.Table(
    "timers",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("cause_event_id", UUID(as_uuid=True), nullable=True, comment="lifecycle event that set it"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("fired_event_id", UUID(as_uuid=True), nullable=True, comment="event_id of its TimerFired"),
    sa.Column("trace_id", sa.Text, nullable=True, comment="W3C trace id of the event that set it"),
    sa.CheckConstraint(f"kind IN ({_kinds})", name="timers_kind"),
    sa.CheckConstraint("state IN ('pending', 'fired', 'cancelled')", name="timers_state"),
    # At most one pending timer per request and kind: a redelivered or repeated event moves it.
    sa.Index(
        "timers_one_pending",
        "request_id",
        "kind",
        unique=True,
        postgresql_where=sa.text("state = 'pending'"),
    ),
    # The firing loop's only access path: oldest due first, pending rows only.
    sa.Index("timers_due", "due_at", "id", postgresql_where=sa.text("state = 'pending'")),
    sa.Index("timers_request", "request_id"),
)

revocations = sa.Table(
    "revocations",
    metadata,
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("overdue_alarmed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)


def _lock_revocations(skip_locked: bool) -> sa.Select[Any]:
    """Built once (parameter `ids`, a text[]): building and hashing a statement costs more CPU than
    PostgreSQL spends running it, and this one runs for every batch of lifecycle events."""
    return (
        sa.select(revocations)
        .where(revocations.c.request_id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.Text))))
        .order_by(revocations.c.request_id)
        .with_for_update(skip_locked=skip_locked)
    )


_CANCEL_PENDING = Compiled(
    sa.update(timers)
    .where(
        timers.c.state == "pending",
        timers.c.kind == sa.bindparam("cancel_kind", type_=sa.Text),
        timers.c.request_id == sa.any_(sa.bindparam("request_ids", type_=ARRAY(sa.Text))),
    )
    .values(state="cancelled", updated_at=sa.func.now())
)
_LOCK_REVOCATIONS = Compiled(_lock_revocations(skip_locked=False))
_LOCK_REVOCATIONS_SKIP_LOCKED = Compiled(_lock_revocations(skip_locked=True))
_TIMER_COLUMNS = ("id", "kind", "request_id", "due_at", "attempt", "state", "cause_event_id", "trace_id")
# One statement for any number of schedules (their (request_id, kind) pairs are distinct): a pending
# timer of the same kind is moved, not duplicated. The WHERE matches the partial unique index.
_UPSERT_TIMERS = insert_from_arrays(
    timers,
    _TIMER_COLUMNS,
    " ON CONFLICT (request_id, kind) WHERE state = 'pending' DO UPDATE SET due_at = EXCLUDED.due_at,"
    " attempt = EXCLUDED.attempt, cause_event_id = EXCLUDED.cause_event_id,"
    " trace_id = EXCLUDED.trace_id, updated_at = now()",
)


@dataclass(frozen=True)
class DueTimer:
    """A timer claimed by the firing loop."""

    id: uuid.UUID
    kind: TimerKind
    request_id: str
    due_at: datetime
    attempt: int
    cause_event_id: uuid.UUID | None
    trace_id: str | None = None


@dataclass(frozen=True)
class PendingTimer:
    id: uuid.UUID
    kind: str
    request_id: str
    due_at: datetime
    attempt: int
    created_at: datetime


class TimerStore:
    """Queries on one session (one transaction, owned by the caller's unit of work).

    Timer changes and the wake-up NOTIFY are queued with `at_commit` (the unit of work's
    `write_at_commit`): sent with the COMMIT, in its round trip, instead of one round trip each."""

    def __init__(self, session: AsyncSession, at_commit: Callable[[str, Any], None]) -> None:
        self.session = session
        self._write = at_commit

    # -- revocations ------------------------------------------------------------------------------
    async def lock_revocations(
        self, request_ids: Iterable[str], *, skip_locked: bool = False
    ) -> dict[str, Revocation]:
        """The revocations of `request_ids`, locked for this transaction (in id order: no lock cycles)."""
        return await read_one(self.session, self.lock_revocations_read(request_ids, skip_locked=skip_locked))

    @staticmethod
    def lock_revocations_read(
        request_ids: Iterable[str], *, skip_locked: bool = False
    ) -> Read[dict[str, Revocation]]:
        """`lock_revocations` as a `Read` (to share a round trip)."""
        query = _LOCK_REVOCATIONS_SKIP_LOCKED if skip_locked else _LOCK_REVOCATIONS
        return Read(query, {"ids": sorted(set(request_ids))}, _revocations_by_request)

    async def existing_revocations(self, request_ids: Iterable[str]) -> set[str]:
        """Which of `request_ids` have a revocation row (committed), without locking anything."""
        ids = sorted(set(request_ids))
        if not ids:
            return set()
        rows = await self.session.scalars(
            sa.select(revocations.c.request_id).where(revocations.c.request_id.in_(ids))
        )
        return set(rows)

    async def save_revocations(self, changed: Iterable[Revocation]) -> None:
        rows = [
            {
                "request_id": r.request_id,
                "started_at": r.started_at,
                "attempts": r.attempts,
                "overdue_alarmed_at": sa.func.now() if r.overdue_alarmed else None,
                "closed_at": sa.func.now() if r.closed else None,
            }
            for r in sorted(changed, key=lambda r: r.request_id)
        ]
        if not rows:
            return
        stmt = insert(revocations).values(rows)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[revocations.c.request_id],
                set_={
                    "attempts": stmt.excluded.attempts,
                    # keep the first alarm / close time
                    "overdue_alarmed_at": sa.func.coalesce(
                        revocations.c.overdue_alarmed_at, stmt.excluded.overdue_alarmed_at
                    ),
                    "closed_at": sa.func.coalesce(revocations.c.closed_at, stmt.excluded.closed_at),
                    "updated_at": sa.func.now(),
                },
            )
        )

    # -- timers -----------------------------------------------------------------------------------
    async def apply(self, changes: TimerChanges) -> None:
        """Write the net schedules and cancels: one UPDATE per cancelled kind, one upsert for the rest.

        Request ids travel as one array parameter, so a 500-event batch is a handful of statements
        that use the (request_id, kind) pending index, not thousands of bound parameters.
        """
        by_kind: dict[str, list[str]] = {}
        for request_id, kind in sorted(changes.cancels):
            by_kind.setdefault(kind, []).append(request_id)
        for cancelled_kind, request_ids in by_kind.items():
            self._write(
                _CANCEL_PENDING.sql,
                _CANCEL_PENDING.params({"cancel_kind": cancelled_kind, "request_ids": request_ids}),
            )
        if changes.schedules:
            rows = [
                {
                    "id": uuid7(),
                    "kind": s.kind,
                    "request_id": s.request_id,
                    "due_at": s.due_at,
                    "attempt": s.attempt,
                    "state": "pending",
                    "cause_event_id": s.cause,
                    "trace_id": tracing.trace_of(s.cause),
                }
                for _, s in sorted(changes.schedules.items())
            ]
            self._write(_UPSERT_TIMERS, array_params(timers, rows, _TIMER_COLUMNS))

    async def notify_scheduled(self, earliest: datetime) -> None:
        """Tell every replica (on commit) that a timer is due at `earliest`."""
        self._write("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, f"{earliest.timestamp():.6f}"))

    async def claim_due(self, limit: int) -> list[DueTimer]:
        """Lock up to `limit` due timers, oldest first, skipping rows another replica holds."""
        query = (
            sa.select(
                timers.c.id,
                timers.c.kind,
                timers.c.request_id,
                timers.c.due_at,
                timers.c.attempt,
                timers.c.cause_event_id,
                timers.c.trace_id,
            )
            # The clock is read once, in a scalar subquery: PostgreSQL can then bound the index scan
            # by it. A bare clock_timestamp() is volatile, so it would be a per-row filter, and every
            # claim would walk all pending timers, the far-future ones too (O(pending) per batch).
            .where(
                timers.c.state == "pending",
                timers.c.due_at <= sa.select(sa.func.clock_timestamp()).scalar_subquery(),
            )
            .order_by(timers.c.due_at, timers.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        rows = (await self.session.execute(query)).all()
        return [
            DueTimer(r.id, r.kind, r.request_id, r.due_at, r.attempt, r.cause_event_id, r.trace_id)
            for r in rows
        ]

    async def mark_fired(self, fired: dict[uuid.UUID, uuid.UUID]) -> None:
        """Mark claimed timers fired, recording the event_id of each TimerFired.

        The pairs travel as two array parameters (unnest), not one bound parameter per value."""
        if not fired:
            return
        pairs = (
            sa.func.unnest(
                sa.literal(list(fired), ARRAY(UUID(as_uuid=True))),
                sa.literal(list(fired.values()), ARRAY(UUID(as_uuid=True))),
            )
            .table_valued("id", "event_id")
            .render_derived(name="f")
        )
        await self.session.execute(
            sa.update(timers)
            .where(timers.c.id == pairs.c.id)
            .values(
                state="fired",
                fired_at=sa.func.clock_timestamp(),
                updated_at=sa.func.now(),
                fired_event_id=pairs.c.event_id,
            )
        )


async def seconds_until_next_due(conn: AsyncConnection) -> tuple[float | None, float]:
    """Seconds from now (database clock, shared by replicas) to the earliest pending timer, or None;
    and that clock's now (epoch seconds), so a wake-up is planned on the clock due times are read by."""
    now = sa.func.clock_timestamp()
    row = (
        await conn.execute(
            sa.select(
                sa.func.extract("epoch", sa.func.min(timers.c.due_at) - now),
                sa.func.extract("epoch", now),
            ).where(timers.c.state == "pending")
        )
    ).one()
    return (None if row[0] is None else float(row[0])), float(row[1])


async def pending_due_before(conn: AsyncConnection, before: datetime, limit: int) -> Sequence[PendingTimer]:
    """Pending timers due before `before`, oldest first (the operator's `list` command)."""
    rows = (
        await conn.execute(
            sa.select(
                timers.c.id,
                timers.c.kind,
                timers.c.request_id,
                timers.c.due_at,
                timers.c.attempt,
                timers.c.created_at,
            )
            .where(timers.c.state == "pending", timers.c.due_at < before)
            .order_by(timers.c.due_at, timers.c.id)
            .limit(limit)
        )
    ).all()
    return [PendingTimer(r.id, r.kind, r.request_id, r.due_at, r.attempt, r.created_at) for r in rows]


def _revocations_by_request(rows: list[Any]) -> dict[str, Revocation]:
    return {
        row.request_id: Revocation(
            request_id=row.request_id,
            started_at=row.started_at,
            attempts=row.attempts,
            overdue_alarmed=row.overdue_alarmed_at is not None,
            closed=row.closed_at is not None,
        )
        for row in rows
    }
