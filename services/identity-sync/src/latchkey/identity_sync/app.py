"""The identity-sync service: a full sync at start and on a schedule, incremental runs in between."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from latchkey.contracts import GROUPS, USERS
from latchkey.runtime import Service, ServiceSettings
from latchkey.runtime.observability import get_logger

from .providers import IdentityProvider, build_provider
from .settings import IdentitySyncSettings
from .store import SCHEMA
from .sync import Mode, SyncEngine

log = get_logger(__name__)

MIGRATIONS = "latchkey.identity_sync.migrations"


def build_service(settings: ServiceSettings, *, configure_process: bool = True) -> Service:
    return Service(
        settings,
        topics=[USERS, GROUPS],
        schema=SCHEMA,
        migrations=MIGRATIONS,
        configure_process=configure_process,
    )


class SyncScheduler:
    """Full sync now and every `full_sync_interval_s`; incremental every `incremental_interval_s`.
    A failed run is retried with capped exponential backoff; the next run starts over, so a run that
    died part-way converges on the next one. A failed periodic full run is followed by an incremental
    one before it is tried again, so deactivations keep flowing while the full run fails."""

    def __init__(self, engine: SyncEngine, settings: IdentitySyncSettings) -> None:
        self.engine = engine
        self.settings = settings
        self._task: asyncio.Task[None] | None = None
        self.consecutive_failures = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="identity-sync-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def healthy(self) -> bool:
        """Ready while the IdP keeps answering: three failed runs in a row need an operator."""
        return self.consecutive_failures < 3

    async def _loop(self) -> None:
        last_full = 0.0
        full_done = False
        full_failed = False
        while True:
            now = time.monotonic()
            full_due = not full_done or now - last_full >= self.settings.full_sync_interval_s
            # A periodic full run that keeps failing (one record the IdP returns cannot be read, a
            # group's members refused) must not stop the incremental runs between, which carry the
            # deactivations: after a failed full run comes an incremental one, then full again.
            mode: Mode = "full" if full_due and not (full_done and full_failed) else "incremental"
            try:
                await self.engine.run(mode)
            except asyncio.CancelledError:
                raise
            except Exception:  # logged and recorded by the engine
                self.consecutive_failures += 1
                full_failed = mode == "full"
                delay = min(
                    self.settings.failure_backoff_max_s, 2.0**self.consecutive_failures
                ) * random.uniform(0.5, 1.0)
                await asyncio.sleep(delay)
                continue
            self.consecutive_failures = 0
            full_failed = False
            if mode == "full":
                full_done, last_full = True, now
            await asyncio.sleep(self.settings.incremental_interval_s)


def build_app(
    settings: IdentitySyncSettings,
    provider: IdentityProvider | None = None,
    *,
    configure_process: bool = True,
) -> tuple[Service, SyncScheduler]:
    """The runnable service with its scheduler wired to start after the broker and stop before it."""
    service = build_service(settings, configure_process=configure_process)
    provider = provider or build_provider(settings)
    engine = SyncEngine(provider, service.unit_of_work, producer=settings.service_name)
    scheduler = SyncScheduler(engine, settings)
    service.on_startup(scheduler.start)
    service.on_shutdown(provider.aclose)
    service.on_shutdown(scheduler.stop)
    service.health.add_check("identity_provider", scheduler.healthy)
    return service, scheduler
