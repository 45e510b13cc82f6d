"""Reading and writing topics directly, for tests, the demo and benchmarks."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from latchkey.contracts import Event, Topic


async def produce(
    bootstrap: str, topic: str, values: Iterable[bytes | Event | None], *, key: str | None = None
) -> None:
    """Send raw bytes or events (keyed by `key`) and wait for every acknowledgement."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value in values:
            data = value.model_dump_json().encode() if isinstance(value, Event) else value
            await producer.send_and_wait(topic, data, key=key.encode() if key else None)
    finally:
        await producer.stop()


async def read_until(
    bootstrap: str,
    topics: str | list[str],
    done: Callable[[list[Any]], bool],
    *,
    timeout: float = 30.0,
    settle: float = 0.0,
) -> list[Any]:
    """Read `topics` from the beginning until `done(records)` holds; then keep reading `settle`
    seconds more (to catch duplicates). Raises TimeoutError with what was seen."""
    consumer = AIOKafkaConsumer(
        *([topics] if isinstance(topics, str) else topics),
        bootstrap_servers=bootstrap,
        group_id=f"reader-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    records: list[Any] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not done(records):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met after {timeout}s; saw {len(records)} records")
            batch = await consumer.getmany(timeout_ms=int(min(remaining, 0.5) * 1000))
            for part in batch.values():
                records.extend(part)
        settle_until = loop.time() + settle
        while loop.time() < settle_until:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()
    return records


def events_of(topic: Topic, records: Iterable[Any]) -> list[Event]:
    """Parse the non-tombstone records of `topic`."""
    return [topic.parse(r.value) for r in records if r.value is not None]


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """What consumer group `group` has committed (offsets after the last record it finished)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    finally:
        await admin.close()
