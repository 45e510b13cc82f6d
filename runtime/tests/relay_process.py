"""A relay in its own process, for tests that kill it with SIGKILL.

`python relay_process.py URL BOOTSTRAP SCHEMA pause-after-send|normal`: with pause-after-send it
publishes one batch, prints SENT and hangs before deleting the sent rows, so the test can kill -9 it
at exactly the worst moment.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from latchkey.runtime import ServiceSettings, ServiceTables, make_engine, make_producer
from latchkey.runtime.outbox import OutboxRelay


class PausingRelay(OutboxRelay):
    async def _delete_sent(self, conn: Any, ids: list[int]) -> None:
        print("SENT", len(ids), flush=True)
        await asyncio.sleep(3600)


async def main(url: str, bootstrap: str, schema: str, mode: str) -> None:
    settings = ServiceSettings(kafka_bootstrap=bootstrap)
    relay_type = PausingRelay if mode == "pause-after-send" else OutboxRelay
    relay = relay_type(make_engine(url), lambda: make_producer(settings), ServiceTables(schema))
    await relay.open()
    published = await relay.relay_once()
    # a killed leader's lock is freed once PostgreSQL notices its connection closed: a moment
    for _ in range(100):
        if published or relay.leader:
            break
        await asyncio.sleep(0.1)
        published = await relay.relay_once()
    print("DONE", published, flush=True)
    await relay.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
