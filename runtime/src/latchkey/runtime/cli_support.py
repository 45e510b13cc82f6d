"""What the terminal tools (`latchkey-access`, `latchkey-audit`, `latchkey-dlq`) share: errors a
person can act on, printed as one line with exit status 2, and the Kafka lookups they need."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from .kafka import client_error_line, kafka_connection
from .settings import ServiceSettings

T = TypeVar("T")
S = TypeVar("S", bound=ServiceSettings)

KAFKA_ERRORS = (TimeoutError, OSError, KafkaError)
"""What failing to reach or use Kafka raises."""

CONNECT_SECONDS = 20


class CliError(Exception):
    """Something the person at the terminal can fix; printed without a traceback."""


class _LastClientError(logging.Handler):
    """Keeps aiokafka's last error line (e.g. why a connection failed: refused, or the broker refused
    the SASL credentials), which the tools print once with their own error instead of every retry."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.last: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.last = client_error_line(record)


_CLIENT_ERRORS = _LastClientError()


def unreachable(settings: ServiceSettings, exc: BaseException) -> CliError:
    detail = str(exc) or ("timed out" if isinstance(exc, TimeoutError) else type(exc).__name__)
    cause = _CLIENT_ERRORS.last
    if cause and cause not in detail:
        detail = f"{detail} ({cause})"
    return CliError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {detail}")


def load_settings(kind: type[S]) -> S:
    """The tool's settings from LATCHKEY_* variables; a bad one is `error: …` and exit status 2."""
    try:
        return kind()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "LATCHKEY_" + "_".join(str(part) for part in first["loc"]).upper()
        typer.secho(f"error: bad setting {name}: {first['msg']}", fg="red", err=True)
        raise typer.Exit(2) from None


def run_cli(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `work`; a CliError becomes `error: …` on standard error and exit status 2."""
    # aiokafka logs each failed connection attempt; the error that follows says it once, plainly,
    # with the client's last reason (`unreachable`)
    client_log = logging.getLogger("aiokafka")
    client_log.handlers[:] = [_CLIENT_ERRORS]
    client_log.propagate = False
    try:
        return asyncio.run(work())
    except CliError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None


def reader(settings: ServiceSettings) -> AIOKafkaConsumer:
    """A consumer outside any group (it commits nothing): the tools only read."""
    return AIOKafkaConsumer(
        **kafka_connection(settings),
        client_id=f"{settings.service_name}-{settings.instance_id}",
        enable_auto_commit=False,
        group_id=None,
    )


async def topic_partitions(settings: ServiceSettings, topic: str) -> list[int]:
    """The partition numbers of `topic`; CliError when Kafka is out of reach or the topic is missing."""
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    try:
        await asyncio.wait_for(admin.start(), CONNECT_SECONDS)
        try:
            described: list[Any] = await admin.describe_topics([topic])
        finally:
            await admin.close()
    except KAFKA_ERRORS as exc:
        raise unreachable(settings, exc) from None
    partitions = [p["partition"] for t in described if t.get("error_code") == 0 for p in t["partitions"]]
    if not partitions:
        raise CliError(f"topic {topic} does not exist: is LATCHKEY_TOPIC_PREFIX right?")
    return sorted(partitions)


async def read_to_end(settings: ServiceSettings, topic: str) -> AsyncIterator[Any]:
    """Every record of `topic` (all partitions) from its start to its end as of now, outside any
    consumer group; CliError when Kafka is out of reach or the topic is missing."""
    partitions = [TopicPartition(topic, p) for p in await topic_partitions(settings, topic)]
    consumer = reader(settings)
    try:
        try:
            await asyncio.wait_for(consumer.start(), CONNECT_SECONDS)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            pending = {tp for tp in partitions if ends[tp] > 0}
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=5000)
                for tp, records in batches.items():
                    for record in records:
                        if record.offset < ends[tp]:
                            yield record
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
        except KAFKA_ERRORS as exc:
            raise unreachable(settings, exc) from None
    finally:
        await consumer.stop()
