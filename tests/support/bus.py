"""Talking to the real broker from tests: publish events (or raw bytes), and read a topic from the
beginning until what we wait for has happened, within a bounded time."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from latchkey.contracts import DeadLetter, Event, Topic
from latchkey.runtime.kafka import default_partitioner, ensure_topics
from latchkey.runtime.settings import ServiceSettings
from latchkey.runtime.testing.bus import committed_offsets


def settings_for(bootstrap: str, prefix: str, **fields: Any) -> ServiceSettings:
    return ServiceSettings(kafka_bootstrap=bootstrap, topic_prefix=prefix, **fields)


async def create_topics(bootstrap: str, prefix: str, topics: Iterable[Topic], replication: int = 1) -> None:
    """Create topics (and their .dlq) the way services do, so tests can publish before services start."""
    await ensure_topics(settings_for(bootstrap, prefix, topic_replication=replication), list(topics))


async def acknowledged(sent: Sequence[asyncio.Future[Any]]) -> None:
    """Wait until the brokers acknowledged every send (`Publisher.send`); raises the first failure.
    Only the futures still pending are waited on: `asyncio.gather` schedules a callback for each one,
    done or not, and for thousands that cost a load generator more than the sends did."""
    pending = [future for future in sent if not future.done()]
    if pending:
        await asyncio.wait(pending)
    for future in sent:
        future.result()


class Publisher:
    """An idempotent, acks=all producer (what frontends and tools use) bound to one topic prefix."""

    def __init__(self, bootstrap: str, prefix: str = "") -> None:
        self.prefix = prefix
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap.split(","),
            acks="all",
            enable_idempotence=True,
            linger_ms=1,
            partitioner=default_partitioner,  # Kafka's murmur2, as the services partition
        )

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def publish(
        self,
        topic: Topic | str,
        event: Event,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        name = topic.name if isinstance(topic, Topic) else topic
        if key is None and isinstance(topic, Topic):
            key = topic.key_of(event)
        return await self.raw(name, event.model_dump_json().encode(), key=key, headers=headers)

    async def publish_many(self, topic: Topic, events: Sequence[Event]) -> None:
        """Send without waiting for each acknowledgement, then wait for all (throughput)."""
        await acknowledged([await self.send(topic, event) for event in events])

    async def send(self, topic: Topic, event: Event) -> asyncio.Future[Any]:
        """Hand one event to the producer and return at once; the future resolves on the brokers'
        acknowledgement (an open-loop load generator that waited for each would fall behind)."""
        return await self.send_encoded(topic, topic.key_of(event).encode(), event.model_dump_json().encode())

    async def send_encoded(self, topic: Topic, key: bytes, value: bytes) -> asyncio.Future[Any]:
        """`send` for an event encoded beforehand (a load generator encodes before it starts timing)."""
        future: asyncio.Future[Any] = await self._producer.send(f"{self.prefix}{topic.name}", value, key=key)
        return future

    async def raw(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: str | bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Publish exact bytes (poison tests) to `prefix + topic`; returns the record's metadata
        (`.partition`, `.offset`)."""
        key_bytes = key.encode() if isinstance(key, str) else key
        return await self._producer.send_and_wait(
            f"{self.prefix}{topic}",
            value,
            key=key_bytes,
            headers=[(k, v.encode()) for k, v in (headers or {}).items()],
        )


@dataclass(frozen=True)
class Record:
    """One record as read back: parsed `event` when the topic registry could parse it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: bytes | None
    headers: dict[str, str]
    event: Event | None
    received_at: float  # time.monotonic() when this reader saw it

    @property
    def type(self) -> str | None:
        if self.event is not None:
            return self.event.type
        try:
            return str(json.loads(self.value or b"{}").get("type"))
        except (ValueError, AttributeError):
            return None


async def partitions_of(bootstrap: str, topic: str, timeout: float = 30) -> list[int]:
    """The partition numbers of `topic`, waiting (up to `timeout`) for it to exist with leaders."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            described = (await admin.describe_topics([topic]))[0]
            parts = described.get("partitions") or []
            if described.get("error_code", 0) == 0 and parts and all(p["leader"] >= 0 for p in parts):
                return sorted(p["partition"] for p in parts)
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} does not exist (or has no leader)")
            await asyncio.sleep(0.3)
    finally:
        await admin.close()


class TopicReader:
    """Reads every partition of one topic from the beginning (no consumer group, nothing committed).

    `await reader.wait_for(predicate, timeout)` keeps reading until `predicate(records)` is true.
    """

    def __init__(self, bootstrap: str, name: str, topic: Topic | None = None) -> None:
        self.name = name
        self.topic = topic
        self.records: list[Record] = []
        self._bootstrap = bootstrap
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap.split(","),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )

    async def __aenter__(self) -> TopicReader:
        partitions = await partitions_of(self._bootstrap, self.name, timeout=30)
        await self._consumer.start()
        assigned = [TopicPartition(self.name, p) for p in partitions]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_beginning(*assigned)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.stop()

    def _parse(self, record: Any) -> Record:
        event: Event | None = None
        if self.topic is not None and record.value is not None:
            try:
                event = self.topic.parse(record.value)
            except ValueError:
                event = None
        return Record(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            timestamp_ms=record.timestamp,
            key=record.key.decode(errors="replace") if record.key is not None else None,
            value=record.value,
            headers={k: v.decode(errors="replace") for k, v in (record.headers or ())},
            event=event,
            received_at=time.monotonic(),
        )

    async def poll(self, timeout_ms: int = 200) -> list[Record]:
        new = [self._parse(r) for r in await self.poll_raw(timeout_ms)]
        self.records.extend(new)
        return new

    async def poll_raw(self, timeout_ms: int = 200) -> list[Any]:
        """The next records as the client returns them: not parsed, not kept in `records` (a load
        generator decodes only what it follows)."""
        batch = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=10_000)
        return [r for records in batch.values() for r in records]

    async def wait_for(
        self, predicate: Callable[[list[Record]], bool], timeout: float, what: str = "condition"
    ) -> list[Record]:
        """Read until `predicate(all records so far)` holds; TimeoutError (with what was seen) if not."""
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            if time.monotonic() > deadline:
                seen = [f"{r.key}:{r.type}" for r in self.records[-30:]]
                raise TimeoutError(
                    f"{what} not reached on {self.name} within {timeout:.0f}s; last records: {seen}"
                )
            await self.poll()
        return self.records

    async def drain(self, quiet: float = 1.0) -> list[Record]:
        """Read until nothing new arrives for `quiet` seconds."""
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            if await self.poll():
                last = time.monotonic()
        return self.records

    def events(self, key: str | None = None) -> list[Event]:
        return [r.event for r in self.records if r.event is not None and (key is None or r.key == key)]

    def types(self, key: str | None = None) -> list[str]:
        return [e.type for e in self.events(key)]


def dead_letter_records(records: Sequence[Record]) -> list[DeadLetter]:
    """The DLQ records among `records` (read from a `<topic>.dlq`)."""
    out = []
    for r in records:
        if r.value is not None:
            try:
                out.append(DeadLetter.model_validate_json(r.value))
            except ValueError:
                continue
    return out


def events_of(records: Sequence[Record], key: str | None = None, types: Iterable[str] = ()) -> list[Event]:
    wanted = set(types)
    return [
        r.event
        for r in records
        if r.event is not None and (key is None or r.key == key) and (not wanted or r.event.type in wanted)
    ]


async def end_offsets(bootstrap: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """The next offset to be written on every partition of `topics` (the high watermarks)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in await partitions_of(bootstrap, t)]
        return dict(await consumer.end_offsets(partitions)) if partitions else {}
    finally:
        await consumer.stop()


async def consumer_groups(bootstrap: str, prefix: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    await admin.start()
    try:
        return sorted(g[0] for g in await admin.list_consumer_groups() if str(g[0]).startswith(prefix))
    finally:
        await admin.close()


async def wait_consumed(
    bootstrap: str,
    group: str,
    topics: Sequence[str],
    timeout: float,
    targets: dict[TopicPartition, int] | None = None,
) -> None:
    """Wait until `group` has committed past everything on `topics` as of now (or past `targets`).

    Services commit only after a batch's work is durable, so this means "processed", not just "read".
    """
    wanted = targets if targets is not None else await end_offsets(bootstrap, topics)
    deadline = time.monotonic() + timeout
    while True:
        committed = await committed_offsets(bootstrap, group)
        behind = {tp: (committed.get(tp, 0), end) for tp, end in wanted.items() if committed.get(tp, 0) < end}
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"group {group} did not consume within {timeout:.0f}s: (committed, end) {behind}"
            )
        await asyncio.sleep(0.3)


async def wait_service_consumed(
    bootstrap: str, prefix: str, service: str, topics: Sequence[str], timeout: float
) -> None:
    """Like `wait_consumed` for a service that may use one consumer group per topic: every group
    whose name starts with `prefix + service` counts (the furthest commit per partition wins)."""
    wanted = await end_offsets(bootstrap, topics)
    deadline = time.monotonic() + timeout
    while True:
        committed: dict[TopicPartition, int] = {}
        for group in await consumer_groups(bootstrap, f"{prefix}{service}"):
            for tp, offset in (await committed_offsets(bootstrap, group)).items():
                committed[tp] = max(offset, committed.get(tp, 0))
        behind = {tp: (committed.get(tp, 0), end) for tp, end in wanted.items() if committed.get(tp, 0) < end}
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service} did not consume within {timeout:.0f}s: (committed, end) {behind}")
        await asyncio.sleep(0.3)
