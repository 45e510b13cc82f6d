"""A minimal Latchkey service whose handler takes a while, to test graceful shutdown.

Environment: the usual LATCHKEY_* settings. Prints `STARTED <request id> <objects the collector
no longer scans> <event loop>` when a handler begins.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import sqlalchemy as sa

from latchkey.contracts import REQUESTS
from latchkey.runtime import Batch, Service, ServiceSettings
from latchkey.runtime.service import loop_name

settings = ServiceSettings(service_name="slow-service")
service = Service(settings, topics=[REQUESTS], schema="slow_service")
assert service.tables is not None
effects = sa.Table("effects", service.tables.metadata, sa.Column("request_id", sa.Text, primary_key=True))


async def create_tables() -> None:
    async with service.engine.begin() as conn:
        await conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS slow_service"))
        await conn.run_sync(service.tables.metadata.create_all)  # type: ignore[union-attr]


async def on_request(batch: Batch[Any]) -> None:
    for event in batch.events:
        print("STARTED", event.request_id, gc.get_freeze_count(), loop_name(), flush=True)
    await asyncio.sleep(3)  # the work in flight when SIGTERM arrives
    async with service.unit_of_work() as uow:
        for event in await uow.fresh("slow", batch.events):
            await uow.session.execute(sa.insert(effects).values(request_id=event.request_id))


service.app.on_startup(create_tables)
service.subscribe(REQUESTS, on_request)

if __name__ == "__main__":
    service.run_forever()
