"""Expiry wired up: consumes `access.lifecycle.v1` into durable timers and fires them on
`expiry.timers.v1`. Handlers are thin: parse (runtime), decide (`domain`), persist + emit (unit of work)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from latchkey.contracts import LIFECYCLE, TIMERS, Event
from latchkey.runtime import Batch, Service, ServiceSettings
from latchkey.runtime.db import read_together
from latchkey.runtime.observability import get_logger

from .domain import RetryPolicy, Revocation, TimerChanges, concerns_expiry, plan_for_event, revoke_overdue
from .firing import LATE_WARNING_SECONDS, TimerFiring
from .settings import ExpirySettings
from .store import SCHEMA, TimerStore

log = get_logger(__name__)

INBOX_CONSUMER = "expiry.lifecycle"
"""Name under which processed lifecycle event ids are remembered (the inbox)."""


def retry_policy(settings: ExpirySettings) -> RetryPolicy:
    return RetryPolicy(
        base_delay=timedelta(seconds=settings.retry_base_delay_seconds),
        max_delay=timedelta(seconds=settings.retry_max_delay_seconds),
        overdue_after_attempts=settings.overdue_after_attempts,
        reminder_lead=timedelta(seconds=settings.reminder_lead_seconds),
    )


class Expiry:
    """The expiry service: a lifecycle consumer that writes timers and a loop that fires them."""

    def __init__(self, settings: ExpirySettings, *, configure_process: bool = True) -> None:
        self.settings = settings
        self.policy = retry_policy(settings)
        self.service = Service(
            settings,
            topics=[LIFECYCLE, TIMERS],
            schema=SCHEMA,
            migrations="latchkey.expiry.migrations",
            configure_process=configure_process,
        )
        self.firing = TimerFiring(
            self.service.engine,
            self.service.unit_of_work,
            self.policy,
            producer=settings.service_name,
            batch_size=settings.fire_batch_size,
            idle_recheck_seconds=settings.idle_recheck_seconds,
            coalesce_seconds=settings.fire_coalesce_seconds,
        )
        self.service.subscribe(LIFECYCLE, self.on_lifecycle, linger_ms=settings.lifecycle_linger_ms)
        self.service.on_startup(self.firing.start)
        self.service.on_shutdown(self.firing.stop)

    async def on_lifecycle(self, batch: Batch[Event]) -> None:
        """Schedule, move or cancel the timers the batch's lifecycle events call for (one transaction)."""
        relevant = [event for event in batch.events if concerns_expiry(event)]
        if not relevant:
            return  # no timer to change: no transaction, no inbox mark needed
        async with self.service.unit_of_work() as uow:
            store = TimerStore(uow.session, at_commit=uow.write_at_commit)
            events, revocations = await read_together(
                uow.session,
                uow.inbox(INBOX_CONSUMER, relevant),
                store.lock_revocations_read(str(getattr(e, "request_id", "")) for e in relevant),
            )
            if not events:
                return
            changed: dict[str, Revocation] = {}
            changes = TimerChanges()
            now = datetime.now(UTC)
            for event in events:
                request_id = str(getattr(event, "request_id", ""))
                plan = plan_for_event(event, revocations.get(request_id), now, self.policy, random.random)
                changes.add(plan.decisions)
                if plan.revocation is not None and plan.revocation != revocations.get(request_id):
                    revocations[request_id] = changed[request_id] = plan.revocation
            await store.apply(changes)
            await store.save_revocations(changed.values())
            for alarm in changes.alarms:
                uow.emit(TIMERS, revoke_overdue(alarm, self.settings.service_name))
            earliest = changes.earliest_due
            if earliest is not None:
                await store.notify_scheduled(earliest)
        if earliest is not None:
            self.firing.timer_scheduled(earliest)
            _warn_if_set_late(changes, now)


def _warn_if_set_late(changes: TimerChanges, now: datetime) -> None:
    """Timers that were already past due when their event arrived: expiry is reading the lifecycle
    topic late (consumer lag, or it was down), so an end is revoked late however fast it fires."""
    late = [s for s in changes.schedules.values() if (now - s.due_at).total_seconds() > LATE_WARNING_SECONDS]
    if late:
        oldest = min(late, key=lambda s: s.due_at)
        log.warning(
            "timers set after they were due",
            count=len(late),
            late_by_s=round((now - oldest.due_at).total_seconds(), 3),
            kind=oldest.kind,
            request_id=oldest.request_id,
            hint="the events that set them reached expiry late (consumer lag); they fire at once",
        )


def build(settings: ServiceSettings) -> Service:
    """The service for `latchkey.runtime.cli.service_cli`."""
    if not isinstance(settings, ExpirySettings):
        settings = ExpirySettings(**settings.model_dump())
    return Expiry(settings).service
