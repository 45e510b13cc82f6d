"""Subscribing to a Latchkey topic: parse, dead-letter what cannot be accepted, hand the rest to a
handler in batches, and commit offsets only after the handler's work is durable.

Failure policy:
- unparseable input → `<topic>.dlq` with the original bytes, headers and reason; the batch goes on;
- a handler can refuse single events with `batch.dead_letter(item, reason)` (forged, unauthorised);
- infrastructure failures (database, Kafka, network) → the batch is redelivered after a jittered
  backoff, for as long as it takes: nothing is skipped while a dependency is down;
- any other exception → the batch is retried a few times, then split into single events so the one
  that keeps failing is dead-lettered (after `handler_max_attempts`) and the partition moves on.

`exclusive=True` (the connector: its handler changes systems outside Kafka, which no redelivery can
undo) also makes sure that only one member of the group works on a partition at a time:
- before a batch runs, the member confirms that it is still in the group's current generation, by a
  heartbeat with its member id and generation (the coordinator checks both, as it does for an offset
  commit, and writes nothing). A member the group coordinator evicted (it was cut off from the
  network, or paused, past the session timeout) learns it there, instead of running records that
  another member has already taken over; it rejoins and gets fresh offsets;
- a rebalance waits (up to `REVOKE_WAIT_SECONDS`) for the running batch to finish and commit before
  the member gives its partitions away, so the next owner does not start on records still in progress.
A batch's end offsets are committed in the background, within `COMMIT_INTERVAL_SECONDS`, and always
before partitions are given away. What remains is a member cut off or killed before that commit: its
work since the last commit may be offered again to the next owner (the connector recognises what it
already reported in its results ledger; docs/connector.md).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import psycopg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from opentelemetry.propagate import extract
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from latchkey.contracts import DeadLetter, Event, Topic, dead_letters

from . import tracing
from .observability import get_logger
from .outbox import headers_dict
from .settings import ServiceSettings

log = get_logger(__name__)

E = TypeVar("E", bound=Event)


class TransientError(Exception):
    """A dependency is unavailable; the work is retried until it succeeds."""


TRANSIENT = (
    TransientError,
    OSError,
    TimeoutError,
    KafkaError,
    OperationalError,
    InterfaceError,
    # psycopg's own: the statements sent with a commit run on the driver connection, unwrapped by
    # SQLAlchemy; deadlocks, serialization failures and lost connections are OperationalErrors
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT)


@dataclass(frozen=True)
class Received(Generic[E]):
    """One consumed record: the event (None for a tombstone) and where it came from."""

    event: E | None
    key: str | None
    topic: str
    partition: int
    offset: int
    headers: dict[str, str]
    value: bytes | None = field(repr=False)

    @property
    def trace_context(self) -> Any:
        return extract(self.headers)


@dataclass
class Batch(Generic[E]):
    """What a handler receives: the parsed records, in partition order, and a way to refuse some."""

    items: list[Received[E]]
    refused: list[tuple[Received[E], str, str]] = field(default_factory=list)

    @property
    def events(self) -> list[E]:
        return [item.event for item in self.items if item.event is not None]

    def dead_letter(self, item: Received[E], reason: str, error_type: str = "Refused") -> None:
        """Refuse `item`: it goes to the dead-letter topic with `reason` once the batch is done."""
        self.refused.append((item, reason, error_type))


Handler = Callable[[Batch[Any]], Awaitable[None]]

LINGER_FILL_BYTES = 64 * 1024
"""What ends a lingering fetch early (`subscribe(linger_ms=…)`): about 60 lifecycle events."""

IDLE_FETCH_WAIT_MS = 500
"""How long the broker holds a fetch while nothing comes (Kafka's default): a lingering subscription
falls back to it when a poll finds nothing, instead of asking again every `linger_ms`."""


MAX_DEAD_LETTER_VALUE = 512 * 1024
"""Bytes of the original value a DLQ record keeps (its base64 must fit the broker's 1 MB default)."""

TRUNCATED_REASON = "value truncated from "
"""How the reason of a dead letter whose value was cut to MAX_DEAD_LETTER_VALUE starts."""


DEAD_LETTER_RETRY_FIRST_S = 0.2
DEAD_LETTER_RETRY_MAX_S = 5.0
DEAD_LETTER_GIVE_UP_S = 120.0


class DeadLetterWriter:
    """Publishes DLQ records (the original bytes plus the reason) and counts them."""

    def __init__(self, broker: KafkaBroker, settings: ServiceSettings, consumer: str) -> None:
        self._broker = broker
        self._settings = settings
        self._consumer = consumer
        self.count = 0

    async def write(
        self,
        source: Topic,
        *,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        headers: dict[str, str],
        reason: str,
        error_type: str,
    ) -> None:
        if value is not None and len(value) > MAX_DEAD_LETTER_VALUE:
            # base64 adds a third: a value near the broker's size limit would make the DLQ write fail,
            # and a failed DLQ write redelivers the batch forever. Keep a prefix and say so.
            reason = f"{TRUNCATED_REASON}{len(value)} to {MAX_DEAD_LETTER_VALUE} bytes; {reason}"
            value = value[:MAX_DEAD_LETTER_VALUE]
        record = DeadLetter(
            producer=self._settings.service_name,
            source_topic=self._settings.topic(source.name),
            partition=partition,
            offset=offset,
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            value_b64=base64.b64encode(value).decode() if value is not None else None,
            headers={k: base64.b64encode(v.encode()).decode() for k, v in headers.items()},
            consumer=self._consumer,
            error_type=error_type,
            reason=reason[:4000],
        )
        # Retried until the dead-letter topic takes it: a refusal is written after the handler's
        # commit, so a write given up on would be lost (the redelivered batch is deduplicated and not
        # refused again), and a parse failure redelivered at once would spin on the partition.
        delay, waited = DEAD_LETTER_RETRY_FIRST_S, 0.0
        while True:
            try:
                await self._broker.publish(
                    record.model_dump_json().encode(),
                    topic=self._settings.topic(dead_letters(source).name),
                    key=key,
                    headers={"content-type": "application/json"},
                )
                break
            except (KafkaError, OSError, TimeoutError) as exc:
                if waited >= DEAD_LETTER_GIVE_UP_S:
                    raise  # the batch is delivered again; shutting down is not held up for ever
                log.warning(
                    "dead-letter topic refused a record; retrying",
                    topic=self._settings.topic(dead_letters(source).name),
                    error=f"{type(exc).__name__}: {exc}"[:300],
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, DEAD_LETTER_RETRY_MAX_S)
        self.count += 1
        log.warning(
            "message dead-lettered",
            topic=record.source_topic,
            partition=partition,
            offset=offset,
            error_type=error_type,
            reason=reason,
        )


def _parse(topic: Topic, record: Any) -> tuple[Received[Any] | None, str | None, str | None]:
    value: bytes | None = record.value
    key = record.key.decode(errors="replace") if isinstance(record.key, bytes) else record.key
    headers = headers_dict(record.headers)
    if value is None:
        return Received(None, key, record.topic, record.partition, record.offset, headers, None), None, None
    try:
        event = topic.parse(value)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:5]
        )
        return None, f"not a valid {topic.name} event: {errors}", "ValidationError"
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"not JSON: {exc}", type(exc).__name__
    return Received(event, key, record.topic, record.partition, record.offset, headers, value), None, None


def _summarise(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


def subscribe(
    broker: KafkaBroker,
    settings: ServiceSettings,
    topic: Topic | Sequence[Topic],
    handler: Handler,
    *,
    group_id: str,
    batch: bool = True,
    max_records: int | None = None,
    from_beginning: bool = True,
    topic_name: str | None = None,
    group_instance_id: str | None = None,
    exclusive: bool = False,
    on_partitions: Callable[[frozenset[int]], None] | None = None,
    linger_ms: int = 0,
) -> DeadLetterWriter:
    """Subscribe `handler` to `topic` in consumer group `group_id`; returns its dead-letter writer.

    `topic` may be several topics: one consumer then polls them together, and a batch holds what
    arrived on any of them (`Received.topic` tells which), so one transaction can handle all of it.

    Offsets are committed after `handler` returns (at-least-once; in the background, see `_Offsets`):
    handlers must be idempotent.
    `exclusive`: one member at a time works on a partition (see the module docstring).
    `on_partitions`: called with the partition numbers this member owns after each rebalance step
    (empty from the moment a rebalance revokes them until the new assignment).
    `linger_ms`: for a consumer that need not react within milliseconds, the broker holds each fetch
    up to this long, until `LINGER_FILL_BYTES` are waiting: fewer, larger batches (every batch costs
    a transaction and a pass through the consumer machinery, whatever its size). Only while records
    come: after a poll that found nothing, fetches wait for the first record as an eager consumer's
    do (`IDLE_FETCH_WAIT_MS`), so an idle subscription does not ask the broker every `linger_ms`,
    and the first record after a pause is handed over at once. 0: a record is handed over as soon
    as it is there.
    """
    if exclusive and not batch:
        raise ValueError("exclusive subscriptions consume in batches (the guard tracks each batch's poll)")
    topics = [topic] if isinstance(topic, Topic) else list(topic)
    if len(topics) != 1 and (topic_name is not None or exclusive or on_partitions is not None):
        raise ValueError("topic_name, exclusive and on_partitions take a subscription of one topic")
    group_id = settings.group(group_id)
    writer = DeadLetterWriter(broker, settings, group_id)
    names = [topic_name or settings.topic(t.name) for t in topics]
    source = dict(zip(names, topics, strict=True))  # deployed name → its Topic
    name = ",".join(names)  # for logs
    backoff = _Backoff()
    guard = _OneOwnerAtATime(name, on_partitions) if exclusive else None
    offsets = _Offsets(name, None if exclusive else on_partitions)
    committer: _Offsets | _OneOwnerAtATime = guard or offsets  # holds the processed, uncommitted offsets

    async def process(items: list[Received[Any]]) -> None:
        delivery: Batch[Any] = Batch(items)
        with tracing.incoming(
            (item.event.event_id, item.headers.get("traceparent")) for item in items if item.event is not None
        ):
            await handler(delivery)
        for item, reason, error_type in delivery.refused:
            await writer.write(
                source[item.topic],
                partition=item.partition,
                offset=item.offset,
                key=item.key.encode() if item.key is not None else None,
                value=item.value,
                headers=item.headers,
                reason=reason,
                error_type=error_type,
            )

    async def consume(body: None = None) -> None:
        # The message from FastStream's context, not as an injected `KafkaMessage` parameter: an
        # injected context field is resolved by a synchronous call that fast-depends runs in a worker
        # thread, a thread hop per delivery (~10 % of flow-engine's CPU at 100 grants/s).
        message: KafkaMessage = broker.context.get_local("message")
        raw = message.raw_message
        records: Sequence[Any] = raw if isinstance(raw, tuple) else (raw,)
        try:
            await handle(message.consumer, records)
        except BaseException:
            if guard is None or not guard.batch_is_stale:  # a new assignment has its own positions
                _rewind(message.consumer, records)  # the batch is delivered again from its first offset
            raise
        if guard is None:
            offsets.processed(message.consumer, records)
        if not subscriber.running:
            await committer.flush()  # shutting down: commit before the consumer closes

    async def handle(consumer: Any, records: Sequence[Any]) -> None:
        items: list[Received[Any]] = []
        for record in records:
            item, reason, error_type = _parse(source[record.topic], record)
            if item is None:
                await writer.write(
                    source[record.topic],
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    headers=headers_dict(record.headers),
                    reason=reason or "invalid",
                    error_type=error_type or "Invalid",
                )
            else:
                items.append(item)
        if guard is None:
            if items:
                await deliver(items)
            return
        async with guard.batch_running():
            if guard.batch_is_stale:
                # fetched under an assignment since revoked: the partitions' current owner (perhaps this
                # member again, from the group's committed offsets) runs these records, not this batch
                log.warning(
                    "batch fetched before a rebalance; left to the partitions' owner",
                    topic=name,
                    partitions=sorted({record.partition for record in records}),
                )
                return
            if items:
                await deliver(items, lambda: guard.confirm_ownership(consumer, records))
            # Committed in the background within COMMIT_INTERVAL_SECONDS, and always before the
            # partitions are given away.
            guard.processed(consumer, records)

    async def deliver(
        items: list[Received[Any]], before: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        try:
            if before is not None:
                await before()
            await process(items)
            backoff.reset()
            return
        except Exception as exc:
            if is_transient(exc) or backoff.attempts < 2:
                await backoff.wait(exc, name)
                raise  # nack: the batch is redelivered from its first offset
            failure = exc
        # A non-transient failure that keeps coming back: find the event that causes it.
        for item in items:
            for attempt in range(1, settings.handler_max_attempts + 1):
                try:
                    await process([item])
                    break
                except Exception as exc:
                    if is_transient(exc):
                        await backoff.wait(exc, name)
                        raise
                    if attempt == settings.handler_max_attempts:
                        await writer.write(
                            source[item.topic],
                            partition=item.partition,
                            offset=item.offset,
                            key=item.key.encode() if item.key is not None else None,
                            value=item.value,
                            headers=item.headers,
                            reason=f"handler failed {attempt} times: {_summarise(exc)}",
                            error_type="HandlerError",
                        )
                    else:
                        await asyncio.sleep(min(2.0, 0.05 * 2**attempt))
        log.error("batch isolated after handler failure", topic=name, error=_summarise(failure))
        backoff.reset()

    records_per_poll = max_records or settings.consumer_max_records
    subscriber = broker.subscriber(
        *names,
        group_id=group_id,
        batch=batch,
        max_records=records_per_poll,
        batch_timeout_ms=settings.consumer_batch_timeout_ms,
        auto_offset_reset="earliest" if from_beginning else "latest",
        # Offsets are committed here, not by FastStream: in the background after each batch (or, for
        # `exclusive`, inside the guarded span), and the batch is rewound on failure (`_rewind`).
        ack_policy=AckPolicy.MANUAL,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        group_instance_id=group_instance_id,  # static membership (optional)
        decoder=_no_decode,
        listener=committer,
        # Kafka's defaults (any record ends a fetch, an empty one returns after 500 ms); a lingering
        # subscription holds its fetches while records come (`_poll`)
        fetch_max_wait_ms=IDLE_FETCH_WAIT_MS,
        fetch_min_bytes=1,
    )
    if batch:
        subscriber.get_msg = _poll(  # type: ignore[method-assign,assignment]
            records_per_poll,
            settings.consumer_batch_timeout_ms,
            guard.fetched if guard else None,
            linger_ms=linger_ms,
        )
    fast_stream_stop = subscriber.stop

    async def stop() -> None:
        # Commit what is pending while the consumer is still open; a batch still running commits its
        # own offsets when it ends (`subscriber.running` is false by then), before FastStream closes it.
        await committer.flush()
        await fast_stream_stop()

    subscriber.stop = stop  # type: ignore[method-assign]
    subscriber(consume)
    return writer


def _advance(pending: dict[TopicPartition, int], records: Sequence[Any]) -> None:
    """Move each partition's offset to commit past the processed `records` (never backwards)."""
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        if record.offset + 1 > pending.get(tp, -1):
            pending[tp] = record.offset + 1


def _first_offsets(records: Sequence[Any]) -> dict[TopicPartition, int]:
    """Where a batch starts on each of its partitions."""
    starts: dict[TopicPartition, int] = {}
    for record in records:
        tp = TopicPartition(record.topic, record.partition)
        starts[tp] = min(record.offset, starts.get(tp, record.offset))
    return starts


def _rewind(consumer: Any, records: Sequence[Any]) -> None:
    """Seek every partition of a failed batch back to its first record, so it is delivered again."""
    if not isinstance(consumer, AIOKafkaConsumer):
        return  # an in-memory test broker
    for tp, offset in _first_offsets(records).items():
        with contextlib.suppress(IllegalStateError):  # no longer assigned: the next owner has it
            consumer.seek(tp, offset)


def _poll(
    max_records: int, timeout_ms: int, fetched: Callable[[], None] | None = None, *, linger_ms: int = 0
) -> Callable[[Any], Awaitable[tuple[Any, ...]]]:
    """A batch subscriber's poll without FastStream's pause after an empty poll.

    FastStream sleeps `batch_timeout_ms` after a poll that found nothing, and a record arriving in that
    pause waits for it: up to 20 ms more per hop on an idle system. `getmany` already returns as soon
    as a record arrives, so the pause only matters when a poll comes back empty at once (a rebalance
    in progress): then, and only then, wait a little instead of spinning.

    With `linger_ms`, each poll also sets how the consumer's next fetches wait: held for the linger
    (or until `LINGER_FILL_BYTES`) after a poll that brought records, Kafka's long poll after one that
    found none. A fetch held for 5 ms while nothing comes is 200 requests a second to the broker:
    that was most of an idle flow-engine's CPU and a tenth of a core of the broker's."""
    wait_ms = max(timeout_ms, 1)
    lingering = (linger_ms, LINGER_FILL_BYTES) if linger_ms > 0 else None
    idle = (IDLE_FETCH_WAIT_MS, 1)

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        records = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
        fetcher = getattr(consumer, "_fetcher", None)  # (none in an in-memory test broker)
        if lingering is not None and fetcher is not None:
            # read by aiokafka's fetcher each time it builds a fetch request (the next one on)
            fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes = lingering if records else idle
        if not records:
            if loop.time() - started < wait_ms / 2000:
                await asyncio.sleep(0.05)
            return ()
        if fetched is not None:
            fetched()
        return tuple(record for batch in records.values() for record in batch)

    return get_msg


class _Rebalances(ConsumerRebalanceListener):  # type: ignore[misc]
    """What every subscription does on a rebalance step: one log line (aiokafka's own group logs stay
    at WARNING), so an operator sees when work moved between replicas and why consumption paused; and
    the subscriber's `on_partitions` hears which partitions this member owns now."""

    def __init__(self, topic: str, on_partitions: Callable[[frozenset[int]], None] | None) -> None:
        self.topic = topic
        self._on_partitions = on_partitions

    def _revoked(self, partitions: set[TopicPartition]) -> None:
        if partitions:  # a first join revokes nothing: not worth a line
            log.info(
                "partitions revoked", topic=self.topic, partitions=sorted(tp.partition for tp in partitions)
            )
        if self._on_partitions is not None:
            self._on_partitions(frozenset())  # eager rebalancing: nothing is owned until the next assignment

    def _assigned(self, partitions: set[TopicPartition]) -> None:
        numbers = frozenset(tp.partition for tp in partitions)
        log.info("partitions assigned", topic=self.topic, partitions=sorted(numbers))
        if self._on_partitions is not None:
            self._on_partitions(numbers)


class _Offsets(_Rebalances):
    """Commits the offsets a subscription has processed, in the background.

    A batch's effect is already durable when it is handed here (its transaction committed), so the
    commit need not hold up the next batch: one commit is in flight at a time, at most one every
    `COMMIT_INTERVAL_SECONDS`, each carrying every partition's latest offset (an offset commit costs
    the broker more than a fetch; one per small batch doubled its CPU). A commit lost to a crash only
    means up to that interval of batches is delivered again, which the handlers' inboxes absorb.
    Before partitions are given away, and at shutdown, what is pending is committed at once, so the
    next owner does not redo it."""

    def __init__(self, topic: str, on_partitions: Callable[[frozenset[int]], None] | None = None) -> None:
        super().__init__(topic, on_partitions)
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._now = asyncio.Event()  # set by flush(): skip the interval

    def processed(self, consumer: Any, records: Sequence[Any]) -> None:
        if not isinstance(consumer, AIOKafkaConsumer):
            return  # an in-memory test broker has no group
        self._consumer = consumer
        _advance(self._pending, records)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._commit(), name=f"commit {self.topic}")

    async def flush(self) -> None:
        """Wait until everything processed so far is committed (or found impossible to commit)."""
        while self._task is not None and not self._task.done():
            self._now.set()
            await asyncio.wait([self._task])

    async def _commit(self) -> None:
        while self._pending and self._consumer is not None:
            offsets, self._pending = self._pending, {}
            try:
                await self._consumer.commit(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # the partitions moved to another member: it starts from the last commit
                log.info(
                    "offsets not committed; partitions reassigned", topic=self.topic, error=_summarise(exc)
                )
            except KafkaError as exc:
                log.warning("offset commit failed; will retry", topic=self.topic, error=_summarise(exc))
                for tp, offset in offsets.items():
                    if offset > self._pending.get(tp, -1):
                        self._pending[tp] = offset
            if not self._now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._now.wait(), COMMIT_INTERVAL_SECONDS)
        self._now.clear()

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self._revoked(revoked)
        await self.flush()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._assigned(assigned)


COMMIT_INTERVAL_SECONDS = 0.5
"""Longest a processed batch waits for its offset commit when no other batch carries it along."""

REVOKE_WAIT_SECONDS = 120.0
"""How long a rebalance waits for a running exclusive batch; the group's rebalance timeout (the
consumer's max.poll.interval.ms, 300 s) must stay above it."""


class _OneOwnerAtATime(_Rebalances):
    """The `exclusive` guard of one subscription: ownership check before a batch, and partitions
    released only between batches (aiokafka awaits `on_partitions_revoked` before it rejoins)."""

    def __init__(self, topic: str, on_partitions: Callable[[frozenset[int]], None] | None = None) -> None:
        super().__init__(topic, on_partitions)
        self._idle = asyncio.Event()
        self._idle.set()
        # Assignments seen so far, and the one the batch in hand was fetched under. Records come back
        # from a poll under the assignment of that moment; should the member be evicted and rejoin
        # before the batch starts, its confirming heartbeat would carry the *new* generation and
        # succeed, and stale records (another member may have run them meanwhile) would run again.
        self.epoch = 0
        self.fetched_epoch = 0
        # End offsets of processed batches not yet committed, and the one commit in flight at a time.
        self._done: dict[TopicPartition, int] = {}
        self._committing = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._flusher: asyncio.Task[None] | None = None

    def fetched(self) -> None:
        """A poll returned records (under the current assignment)."""
        self.fetched_epoch = self.epoch

    @property
    def batch_is_stale(self) -> bool:
        """A rebalance began (and perhaps gave the partitions back) since the batch in hand was
        fetched. One that begins while a batch runs waits for it before revoking anything."""
        return self.epoch != self.fetched_epoch

    @contextlib.asynccontextmanager
    async def batch_running(self) -> AsyncIterator[None]:
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    async def confirm_ownership(self, consumer: Any, records: Sequence[Any]) -> None:
        """Ask the group coordinator whether this member is still in its current generation (so the
        partitions it was assigned are still its own); if not, the batch is left to their new owner.

        A heartbeat carries the member id and generation, and the coordinator validates both exactly
        as for an offset commit (Kafka's `ClassicGroup.validateMember` and the generation check); it
        answers REBALANCE_IN_PROGRESS to a valid member while a rebalance gathers members, which
        still owns its partitions until it rejoins (and that waits for this batch), as an offset
        commit is still accepted then. Unlike the commit this check used to be, it writes nothing to
        `__consumer_offsets`, whose writes the coordinator batches for a few milliseconds
        (`group.coordinator.append.linger.ms`): that commit was a third of the connector's batch
        cycle at a steady few hundred commands a second (docs/operations.md, "Fourteenth round").
        aiokafka's `_do_heartbeat` is its own heartbeat routine's step: on an error it resets the
        generation or marks the coordinator unknown, so the consumer rejoins as after any heartbeat."""
        if not isinstance(consumer, AIOKafkaConsumer):
            return  # an in-memory test broker has no group
        if await consumer._coordinator._do_heartbeat():
            return
        # Refused (evicted, or a rebalance moved on without this member) or unanswered (the coordinator
        # is unreachable): either way the partitions may be someone else's by now.
        log.warning(
            "ownership not confirmed; batch left to the partitions' owner",
            topic=self.topic,
            partitions=sorted({record.partition for record in records}),
        )
        raise TransientError(f"could not confirm that this member still owns its partitions of {self.topic}")

    def processed(self, consumer: Any, records: Sequence[Any]) -> None:
        """A batch is done: its end offsets are committed within `COMMIT_INTERVAL_SECONDS`, with those
        of every batch done by then."""
        if not isinstance(consumer, AIOKafkaConsumer):
            return
        self._consumer = consumer
        _advance(self._done, records)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later(), name=f"commit {self.topic}")

    async def flush(self) -> bool:
        """Commit what the batches processed now; False if that failed (it is logged: what a later
        commit does not carry, the next owner redoes)."""
        if self._done and self._consumer is not None:
            try:
                await self._commit(self._consumer)
            except (CommitFailedError, IllegalStateError, KafkaError) as exc:
                log.warning("batch done but not committed", topic=self.topic, error=_summarise(exc))
                return False
        return True

    async def _flush_later(self) -> None:
        # Until everything processed is committed: a batch done while a commit was in flight is not in
        # that commit, and no other batch may come to schedule the next one.
        while self._done:
            await asyncio.sleep(COMMIT_INTERVAL_SECONDS)
            if not await self.flush():
                return

    async def _commit(self, consumer: AIOKafkaConsumer) -> None:
        """One commit at a time, each with the latest offsets, so the group's offsets never go back."""
        async with self._committing:
            offsets = dict(self._done)
            if not offsets:
                return
            await consumer.commit(offsets)
            for tp, offset in offsets.items():
                if self._done.get(tp, -1) <= offset:
                    self._done.pop(tp, None)

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.epoch += 1
        self._revoked(revoked)
        if not self._idle.is_set():
            log.info("rebalance waits for the running batch", topic=self.topic)
            try:
                await asyncio.wait_for(self._idle.wait(), REVOKE_WAIT_SECONDS)
            except TimeoutError:
                log.warning("batch still running; partitions released anyway", topic=self.topic)
        # What was processed is committed before the next owner starts; what is not committed by then
        # (this member was evicted) is for the next owner to run, never for this member to commit later.
        await self.flush()
        for tp in revoked:
            self._done.pop(tp, None)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.epoch += 1
        self._assigned(assigned)


async def _no_decode(message: Any) -> None:
    """Bodies are parsed by `subscribe` against the topic's union, so poison can be dead-lettered."""
    return None


class _Backoff:
    def __init__(self) -> None:
        self.attempts = 0

    def reset(self) -> None:
        self.attempts = 0

    async def wait(self, exc: BaseException, topic: str) -> None:
        self.attempts += 1
        delay = min(30.0, 0.1 * 2**self.attempts) * (0.5 + random.random() / 2)
        log.warning(
            "handler failed, will redeliver",
            topic=topic,
            attempt=self.attempts,
            retry_in=round(delay, 2),
            error=_summarise(exc),
        )
        await asyncio.sleep(delay)
