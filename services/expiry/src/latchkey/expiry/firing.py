"""The firing loop: sleeps until the earliest pending timer is due, then fires every due timer.

No polling tick: the loop computes how long until the next due time (database clock) and sleeps
exactly that long, unless woken earlier by (a) this process committing an earlier timer, or (b) a
PostgreSQL NOTIFY from another replica. Due timers are claimed in batches with `FOR UPDATE SKIP
LOCKED`, marked fired and their TimerFired written to the outbox in one transaction, oldest first,
so replicas share the work and a timer fires exactly once in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from latchkey.contracts import TIMERS, TimerFired
from latchkey.runtime import UnitOfWork, tracing
from latchkey.runtime.observability import get_logger

from .domain import (
    RetryPolicy,
    Revocation,
    TimerChanges,
    plan_for_confirmation_deadline,
    revoke_overdue,
    timer_fired,
)
from .store import NOTIFY_CHANNEL, DueTimer, TimerStore, seconds_until_next_due

log = get_logger(__name__)

# When due rows were skipped because another transaction holds them, look again after this long.
_LOCKED_RETRY_SECONDS = 0.05
# Firing later than this after the due time is worth a warning (a stretch of them, two lines).
LATE_WARNING_SECONDS = 1.0


class TimerFiring:
    """Fires due timers; `start()` / `stop()` from the service's lifecycle hooks."""

    def __init__(
        self,
        engine: AsyncEngine,
        unit_of_work: Callable[[], UnitOfWork],
        policy: RetryPolicy,
        *,
        producer: str,
        batch_size: int,
        idle_recheck_seconds: float,
        coalesce_seconds: float = 0.0,
    ) -> None:
        self._engine = engine
        self._unit_of_work = unit_of_work
        self._policy = policy
        self._producer = producer
        self._batch_size = batch_size
        self._idle_recheck = idle_recheck_seconds
        self._coalesce = coalesce_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self._next_wake_epoch = float("inf")
        self._tasks: list[asyncio.Task[None]] = []
        self.fired = 0
        # A stretch of batches fired late (after downtime): logged once when it starts, once at its end.
        self._late_fired = 0
        self._most_late = 0.0

    # -- waking -----------------------------------------------------------------------------------
    def timer_scheduled(self, due_at: datetime) -> None:
        """A timer due at `due_at` was committed: wake now if that is earlier than the planned wake."""
        if due_at.timestamp() < self._next_wake_epoch:
            self._wake.set()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="expiry-firing"),
            asyncio.create_task(self._listen(), name="expiry-listen"),
        ]

    async def stop(self) -> None:
        """Let the batch in flight commit, then stop."""
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            if task.get_name() == "expiry-listen":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the loop ---------------------------------------------------------------------------------
    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            # Cleared before looking, so a wake-up that arrives while we look is not lost.
            self._wake.clear()
            try:
                fired = await self.fire_due()
                if fired >= self._batch_size:
                    continue  # more are due right now
                self._caught_up()
                async with self._engine.connect() as conn:
                    wait, database_now = await seconds_until_next_due(conn)
                failures = 0
            except Exception as exc:  # PostgreSQL unavailable: the timers wait in the table, retry
                failures += 1
                delay = min(10.0, 0.1 * 2**failures) * random.random()
                log.warning("firing timers failed, retrying", error=str(exc)[:500], retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if wait is None:
                wait = self._idle_recheck
            elif wait <= 0:
                wait = _LOCKED_RETRY_SECONDS  # due but held by another transaction
            elif fired:
                # A stream of ends (many grants expiring within the same seconds): rather than one
                # transaction per timer, which PostgreSQL's commit rate caps, let the next few ms of
                # timers gather and fire them together. A quiet system fires each timer on the dot.
                wait = max(wait, self._coalesce)
            wait = min(wait, self._idle_recheck)
            # On the database's clock, as the due times it is compared with (`timer_scheduled`, the
            # listener): on this host's, a clock S seconds behind would let a timer due within S of
            # the planned wake pass unnoticed and fire up to S late.
            self._next_wake_epoch = database_now + wait
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            self._next_wake_epoch = float("inf")

    async def fire_due(self) -> int:
        """Fire one batch of due timers (oldest first); returns how many were claimed and fired."""
        async with self._unit_of_work() as uow:
            store = TimerStore(uow.session, at_commit=uow.write_at_commit)
            due = await store.claim_due(self._batch_size)
            if not due:
                return 0
            events = {
                timer.id: timer_fired(
                    timer_id=timer.id,
                    kind=timer.kind,
                    request_id=timer.request_id,
                    due_at=timer.due_at,
                    attempt=timer.attempt,
                    cause=timer.cause_event_id,
                    producer=self._producer,
                )
                for timer in due
            }
            # A retry scheduled because a deadline passed belongs to the same trace as that deadline.
            with tracing.incoming(
                (events[t.id].event_id, tracing.traceparent(t.trace_id)) for t in due if t.trace_id
            ):
                due, changes = await self._deadlines_passed(store, due, events)
                fired: dict[uuid.UUID, uuid.UUID] = {}
                for timer in sorted(due, key=lambda t: (t.due_at, t.id)):
                    with tracing.continuing(timer.trace_id):  # the request's trace, hours later
                        uow.emit(TIMERS, events[timer.id])
                    fired[timer.id] = events[timer.id].event_id
                await store.mark_fired(fired)
                if changes:
                    await store.apply(changes)
                    for alarm in changes.alarms:
                        uow.emit(TIMERS, revoke_overdue(alarm, self._producer))
                    if (earliest := changes.earliest_due) is not None:
                        await store.notify_scheduled(earliest)
        self.fired += len(fired)
        late_by = (datetime.now(UTC) - min(t.due_at for t in due)).total_seconds() if due else 0.0
        if late_by > LATE_WARNING_SECONDS:
            if not self._late_fired:
                log.warning(
                    "timers firing late",
                    late_by_s=round(late_by, 3),
                    hint="expiry was stopped, or PostgreSQL slow or unreachable, while they came due",
                )
            self._late_fired += len(fired)
            self._most_late = max(self._most_late, late_by)
        log.debug("timers fired", count=len(fired), late_by_s=round(late_by, 3))
        return len(fired)

    def _caught_up(self) -> None:
        """Nothing more is due now: close the late stretch (if any) with one line that sums it up."""
        if self._late_fired:
            log.warning(
                "overdue timers caught up", count=self._late_fired, most_late_s=round(self._most_late, 3)
            )
            self._late_fired, self._most_late = 0, 0.0

    async def _deadlines_passed(
        self, store: TimerStore, due: list[DueTimer], events: dict[uuid.UUID, TimerFired]
    ) -> tuple[list[DueTimer], TimerChanges]:
        """For revoke_confirmation timers: plan the retry (caused by the deadline's TimerFired). Those
        whose revocation another transaction holds stay pending for the next round (never wait for a
        lock here: see store.py). Returns the timers to fire now and the changes to write."""
        confirmations = [t for t in due if t.kind == "revoke_confirmation"]
        changes = TimerChanges()
        if not confirmations:
            return due, changes
        ids = {t.request_id for t in confirmations}
        existing = await store.existing_revocations(ids)
        locked = await store.lock_revocations(ids, skip_locked=True)
        busy = existing - set(locked)
        now = datetime.now(UTC)
        changed: list[Revocation] = []
        for timer in confirmations:
            if timer.request_id in busy:
                continue
            plan = plan_for_confirmation_deadline(
                timer.request_id,
                timer.attempt,
                locked.get(timer.request_id),
                now,
                self._policy,
                random.random,
                cause=events[timer.id].event_id,
            )
            changes.add(plan.decisions)
            if plan.revocation is not None and plan.revocation != locked.get(timer.request_id):
                changed.append(plan.revocation)
        await store.save_revocations(changed)
        return [t for t in due if t.request_id not in busy or t.kind != "revoke_confirmation"], changes

    async def _listen(self) -> None:
        """LISTEN for timers committed by other replicas; wake if one is due before the planned wake."""
        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f'LISTEN "{NOTIFY_CHANNEL}"')
                    self._wake.set()  # something may have been committed while we were not listening
                    async for notice in conn.notifies():
                        try:
                            due = float(notice.payload)
                        except ValueError:
                            due = 0.0
                        if due < self._next_wake_epoch:
                            self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("timer listener reconnecting", error=str(exc))
                await asyncio.sleep(1.0)
