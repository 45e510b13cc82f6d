"""When identity-sync runs full and incremental syncs, and what a run that keeps failing does to the
runs between (the engine is a stand-in recording what it is asked; its runs are tested elsewhere)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from latchkey.identity_sync.app import SyncScheduler


class Engine:
    """Fails every full run after the first (one record the IdP returns cannot be read, say)."""

    def __init__(self) -> None:
        self.modes: list[str] = []

    async def run(self, mode: str) -> None:
        self.modes.append(mode)
        if mode == "full" and self.modes.count("full") > 1:
            raise RuntimeError("a group without displayName")


async def test_a_full_sync_that_keeps_failing_does_not_stop_the_incremental_ones() -> None:
    """Incremental runs carry deactivations between full runs: a periodic full run that fails every
    time must leave them running (else nobody is deactivated until the record is fixed)."""
    engine = Engine()
    settings = SimpleNamespace(
        full_sync_interval_s=0.0, incremental_interval_s=0.0, failure_backoff_max_s=0.001
    )
    scheduler = SyncScheduler(engine, settings)  # type: ignore[arg-type]
    await scheduler.start()
    try:
        for _ in range(200):
            if len(engine.modes) >= 7:
                break
            await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
    assert engine.modes[:7] == ["full", "full", "incremental", "full", "incremental", "full", "incremental"]
