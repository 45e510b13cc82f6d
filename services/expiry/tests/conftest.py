"""Expiry test support: a running expiry (in-process or as a real subprocess), a lifecycle publisher
and a reader of `expiry.timers.v1` that timestamps arrivals. Real Kafka and PostgreSQL throughout."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy.ext.asyncio import create_async_engine

from latchkey.contracts import LIFECYCLE, TIMERS, Event, RequestCreated, RequestDenied, uuid7
from latchkey.expiry.app import Expiry
from latchkey.expiry.settings import ExpirySettings
from latchkey.runtime import ensure_topics, make_producer
from latchkey.runtime.testing.logs import log_entries

T = TypeVar("T")


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> ExpirySettings:
    """Settings with a fast retry policy so retry tests take seconds."""
    return ExpirySettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        health_port=0,
        retry_base_delay_seconds=0.2,
        retry_max_delay_seconds=0.8,
        overdue_after_attempts=3,
        reminder_lead_seconds=2.0,
        log_json=False,
        log_level="WARNING",
    )


@asynccontextmanager
async def running(
    settings: ExpirySettings, lifecycle: Lifecycle, instance: str = "expiry-0", **overrides: Any
) -> AsyncIterator[Expiry]:
    """An expiry service started in this event loop, consuming already (stopped gracefully on exit)."""
    expiry = Expiry(
        settings.model_copy(update={"instance_id": instance, **overrides}), configure_process=False
    )
    await expiry.service.app.start()
    try:
        await consuming(settings, lifecycle)
        yield expiry
    finally:
        await expiry.service.app.stop()


async def consuming(settings: ExpirySettings, lifecycle: Lifecycle, timeout: float = 60) -> None:
    """Wait until expiry's consumer has joined its group and processes new events: a probe request's
    approval timeout turns up in the table (then the probe is denied, so it never fires)."""
    probe = f"probe-{uuid7()}"
    await lifecycle.publish(
        RequestCreated(
            request_id=probe,
            requester_id="probe",
            integration_id="probe",
            resource="probe",
            permission="probe",
            duration_seconds=1,
            flow_name="probe",
            automatic=False,
            approval_deadline=datetime.now(UTC) + timedelta(days=1),
        )
    )
    await TimerTable(settings.sync_database_url).wait_for(bool, timeout, probe)
    await lifecycle.publish(RequestDenied(request_id=probe, reason="probe"))


@pytest.fixture
def start_expiry(settings: ExpirySettings, lifecycle: Lifecycle) -> Callable[..., Any]:
    """`async with start_expiry("replica-a", fire_batch_size=10) as expiry:` runs expiry in-process."""
    return lambda instance="expiry-0", **overrides: running(settings, lifecycle, instance, **overrides)


def now() -> datetime:
    return datetime.now(UTC)


class Lifecycle:
    """Publishes lifecycle events as flow-engine would (keyed by request id)."""

    def __init__(self, settings: ExpirySettings) -> None:
        self.settings = settings
        self.producer = make_producer(settings)

    async def start(self) -> None:
        await ensure_topics(self.settings, [LIFECYCLE, TIMERS])
        await self.producer.start()

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(self, *events: Event) -> None:
        futures = [
            await self.producer.send(
                self.settings.topic(LIFECYCLE.name),
                event.model_dump_json().encode(),
                key=LIFECYCLE.key_of(event).encode(),
            )
            for event in events
        ]
        await asyncio.gather(*futures)

    async def publish_raw(self, value: bytes, key: bytes) -> None:
        await self.producer.send_and_wait(self.settings.topic(LIFECYCLE.name), value, key=key)


@pytest.fixture
async def lifecycle(settings: ExpirySettings) -> AsyncIterator[Lifecycle]:
    publisher = Lifecycle(settings)
    await publisher.start()
    try:
        yield publisher
    finally:
        await publisher.stop()


@dataclass(frozen=True)
class Arrival:
    event: Any
    arrived_at: datetime


class TimersTopic:
    """Reads every partition of `expiry.timers.v1` (no group) from the start and keeps what arrived."""

    def __init__(self, settings: ExpirySettings, topic: str | None = None) -> None:
        self.topic = topic or settings.topic(TIMERS.name)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap.split(","),
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
        )
        self.arrivals: list[Arrival] = []

    async def start(self) -> None:
        await self.consumer.start()
        tps = [TopicPartition(self.topic, p) for p in range(TIMERS.partitions)]
        self.consumer.assign(tps)
        await self.consumer.seek_to_beginning(*tps)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def poll(self, timeout: float = 0.1) -> None:
        batch = await self.consumer.getmany(timeout_ms=int(timeout * 1000), max_records=10_000)
        arrived = now()
        for records in batch.values():
            for record in records:
                self.arrivals.append(Arrival(TIMERS.parse(record.value), arrived))

    async def wait_for(self, probe: Callable[[], T], timeout: float, what: str = "events") -> T:
        """Poll until `probe()` returns something truthy and return it; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (found := probe()):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.events}")
            await self.poll()
        return found

    async def settle(self, seconds: float) -> None:
        """Keep reading for `seconds` (to see that nothing more arrives)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await self.poll()

    @property
    def events(self) -> list[Any]:
        return [a.event for a in self.arrivals]

    def fired(self, request: str | None = None, kind: str | None = None) -> list[Any]:
        return [
            e
            for e in self.events
            if e.type == "timer.fired"
            and (request is None or e.request_id == request)
            and (kind is None or e.kind == kind)
        ]

    def arrival_of(self, event_id: Any) -> datetime:
        return next(a.arrived_at for a in self.arrivals if a.event.event_id == event_id)


@pytest.fixture
async def timers_topic(settings: ExpirySettings, lifecycle: Lifecycle) -> AsyncIterator[TimersTopic]:
    reader = TimersTopic(settings)  # `lifecycle` created the topics
    await reader.start()
    try:
        yield reader
    finally:
        await reader.stop()


class TimerTable:
    """Reads expiry.timers directly: the durable state the tests assert on."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    async def rows(self, request: str | None = None) -> list[Any]:
        """The timers (optionally one request's), ordered by due time."""
        engine = create_async_engine(self.database_url)
        try:
            async with engine.connect() as conn:
                query = sa.text(
                    "SELECT id, kind, request_id, due_at, attempt, state, fired_at, fired_event_id "
                    "FROM expiry.timers WHERE (CAST(:r AS text) IS NULL OR request_id = :r) "
                    "ORDER BY due_at, id"
                )
                return list((await conn.execute(query, {"r": request})).all())
        finally:
            await engine.dispose()

    async def wait_for(
        self, condition: Callable[[list[Any]], bool], timeout: float, request: str | None = None
    ) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                rows = await self.rows(request)
            except sa.exc.ProgrammingError:  # schema not migrated yet
                rows = []
            if condition(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; timers table: {rows}")
            await asyncio.sleep(0.1)


@pytest.fixture
def timer_table(database_url: str) -> TimerTable:
    return TimerTable(database_url)


class ExpiryProcess:
    """`python -m latchkey.expiry` as a real subprocess (for kill -9 and SIGTERM tests)."""

    def __init__(self, settings: ExpirySettings, instance: str, **overrides: Any) -> None:
        self.env = {
            **os.environ,
            "LATCHKEY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "LATCHKEY_DATABASE_URL": settings.sync_database_url,
            "LATCHKEY_TOPIC_PREFIX": settings.topic_prefix,
            "LATCHKEY_INSTANCE_ID": instance,
            "LATCHKEY_HEALTH_PORT": str(overrides.pop("health_port", 0)),
            "LATCHKEY_LOG_LEVEL": "WARNING",
            **{f"LATCHKEY_{k.upper()}": str(v) for k, v in overrides.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "latchkey.expiry", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def log_events(self) -> list[dict[str, Any]]:
        """The JSON log lines it wrote to stderr (read once it has exited)."""
        assert self.proc is not None and self.proc.stderr is not None and self.proc.poll() is not None
        return [entry for _, entry in log_entries(self.proc.stderr.read().decode(errors="replace"))]

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def expiry_process(settings: ExpirySettings) -> Iterator[Callable[..., ExpiryProcess]]:
    started: list[ExpiryProcess] = []

    def make(instance: str = "expiry-p", **overrides: Any) -> ExpiryProcess:
        process = ExpiryProcess(settings, instance, **overrides)
        started.append(process)
        return process

    yield make
    for process in started:
        process.cleanup()
