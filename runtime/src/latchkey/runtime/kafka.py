"""The one way Latchkey talks to Kafka: broker factory, producer factory and topic creation."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import ssl
import struct
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.helpers import create_ssl_context
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from latchkey.contracts import Topic, dead_letters

from .observability import get_logger
from .settings import ServiceSettings

log = get_logger(__name__)

# Kept a day on non-compacted topics; compacted topics keep the latest value per key forever.
_RETENTION_MS = str(7 * 24 * 3600 * 1000)
# While a process waits for the cluster: one line this often, instead of aiokafka's one per attempt.
WAITING_REPORT_SECONDS = 5.0
_RETRY_SECONDS = 0.5


def kafka_connection(settings: ServiceSettings) -> dict[str, Any]:
    """The aiokafka options every client of this process connects with: the bootstrap servers and,
    when configured, TLS and the SASL user (`LATCHKEY_KAFKA_SECURITY_PROTOCOL` and the settings after it)."""
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap.split(",")}
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return options
    options["security_protocol"] = protocol
    if protocol.endswith("SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
        )
    if protocol.startswith("SASL_"):
        assert settings.kafka_sasl_password is not None  # checked by the settings
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return options


def _security(settings: ServiceSettings) -> BaseSecurity | None:
    """`kafka_connection`'s security, as FastStream's broker takes it."""
    options = kafka_connection(settings)
    protocol = options.get("security_protocol")
    if protocol is None:
        return None
    context = options.get("ssl_context")
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    sasl = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    kind = sasl[options["sasl_mechanism"]]
    return kind(options["sasl_plain_username"], options["sasl_plain_password"], ssl_context=context)


def make_broker(settings: ServiceSettings, *, graceful_timeout: float = 8.0) -> KafkaBroker:
    """A FastStream broker whose producer waits for all in-sync replicas and never duplicates on retry.

    Consumers built by `latchkey.runtime.consuming` commit offsets only after the handler's work is
    durable; `graceful_timeout` bounds how long SIGTERM waits for in-flight handlers.
    """
    return KafkaBroker(
        settings.kafka_bootstrap.split(","),
        security=_security(settings),
        client_id=f"{settings.service_name}-{settings.instance_id}",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        graceful_timeout=graceful_timeout,
        partitioner=default_partitioner,
        middlewares=[KafkaTelemetryMiddleware()],
        logger=None,
    )


def make_producer(settings: ServiceSettings, **overrides: object) -> AIOKafkaProducer:
    """A raw aiokafka producer with the same guarantees (used by the outbox relay and admin tools)."""
    options: dict[str, object] = {
        **kafka_connection(settings),
        "client_id": f"{settings.service_name}-{settings.instance_id}-producer",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 2,
        "max_batch_size": 256 * 1024,
        # Kafka's default partitioner (murmur2 of the key), computed a word at a time: aiokafka's own
        # murmur2 is pure Python byte by byte and costs a connector ~2 % of its CPU per result.
        "partitioner": default_partitioner,
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


_M = 0x5BD1E995
_WORD = struct.Struct("<I")


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as the Java client and aiokafka
    compute it, but word-at-a-time: keyed records land on the partition every other client picks."""
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    whole = length & ~3
    for (k,) in _WORD.iter_unpack(data[:whole]):
        k = (k * _M) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * _M) & 0xFFFFFFFF
        h = ((h * _M) & 0xFFFFFFFF) ^ k
    extra = length & 3
    if extra >= 3:
        h ^= data[whole + 2] << 16
    if extra >= 2:
        h ^= data[whole + 1] << 8
    if extra >= 1:
        h = ((h ^ data[whole]) * _M) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * _M) & 0xFFFFFFFF
    return h ^ (h >> 15)


@functools.lru_cache(maxsize=4096)
def _key_hash(key: bytes) -> int:
    # A request's records share its id as their key (the command, then each lifecycle event), and
    # are mostly sent within one batch: hashing a 36-byte key costs ~2.8 us, a cache hit ~0.1 us.
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key` on a topic with `partitions` partitions."""
    return _key_hash(key) % partitions


def default_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """aiokafka's `DefaultPartitioner` with the fast murmur2: a keyed record goes where the Java client
    sends it; a record without a key to a random available partition."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[partition_for(key, len(all_partitions))]


def topic_configs(topic: Topic) -> dict[str, str]:
    if topic.compacted:
        return {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
    return {"cleanup.policy": "delete", "retention.ms": _RETENTION_MS}


def client_error_line(record: logging.LogRecord) -> str:
    """aiokafka's log line, plus what it leaves out when the broker closed a TLS connection on it: the
    alert that closed it and, for a refused client certificate, the settings to check."""
    message = record.getMessage()
    error = record.args[-1] if isinstance(record.args, tuple) and record.args else None
    cause = error.__cause__ if isinstance(error, BaseException) else None
    if not isinstance(cause, ssl.SSLError):
        return message
    message = f"{message} ({cause})"
    reason = cause.reason or ""
    # An alert the broker sent about our certificate: none given (bad certificate, certificate
    # required), or one it does not trust (certificate unknown, unknown CA).
    if "ALERT" in reason and ("CERTIFICATE" in reason or "UNKNOWN_CA" in reason):
        message += (
            ": the broker refused this client's TLS certificate (none, or one it does not trust); "
            "set LATCHKEY_KAFKA_SSL_CERTFILE and LATCHKEY_KAFKA_SSL_KEYFILE to one its client CA signed"
        )
    return message


class _HeldConnectionErrors(logging.Filter):
    """Holds back aiokafka's line per failed connection attempt (every 0.5 s while a client waits for
    the cluster) and keeps the last one, for the waiting process to say once in a while instead."""

    _ATTEMPT_FAILED = ("Unable connect to", "Unable to request metadata from")

    def __init__(self) -> None:
        super().__init__()
        self.last: str | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith(self._ATTEMPT_FAILED):
            self.last = client_error_line(record)
            return False
        return True


@contextlib.contextmanager
def _connection_errors_held() -> Iterator[_HeldConnectionErrors]:
    """aiokafka's connection errors held back while the block runs; its logging is as before after."""
    held = _HeldConnectionErrors()
    # aiokafka's client logs its per-attempt lines on "aiokafka" itself (a logger's filters see only
    # its own records, not those its children pass up: the other modules' lines are untouched)
    client_log = logging.getLogger("aiokafka")
    client_log.addFilter(held)
    try:
        yield held
    finally:
        client_log.removeFilter(held)


async def wait_for_cluster(
    settings: ServiceSettings, start: Callable[[], Awaitable[None]], timeout: float, *, report: bool = True
) -> None:
    """Call `start` (a client's `start()`, which connects to the bootstrap servers) until it succeeds
    or `timeout` seconds have passed. Meanwhile (unless not `report`: a command-line tool, which says
    it once when it gives up) one "waiting for Kafka" line every `WAITING_REPORT_SECONDS` names the
    bootstrap servers and the last attempt's error; the KafkaConnectionError raised at the end names
    it too."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    reported: float | None = None
    with _connection_errors_held() as held:
        while True:
            held.last = None
            try:
                await start()
                return
            except KafkaConnectionError as exc:
                cause = held.last or str(exc)
            waited = loop.time() - began
            if waited >= timeout:
                raise KafkaConnectionError(
                    f"not connected within {timeout:g} s; the last attempt: {cause}"
                ) from None
            if report and (reported is None or loop.time() - reported >= WAITING_REPORT_SECONDS):
                log.warning(
                    "waiting for Kafka",
                    kafka=settings.kafka_bootstrap,
                    error=cause,
                    waited_seconds=round(waited, 1),
                    gives_up_in_seconds=round(timeout - waited, 1),
                )
                reported = loop.time()
            await asyncio.sleep(_RETRY_SECONDS)


class TopicsNotCreated(Exception):
    """The cluster refused to create a missing topic (not allowed, or a bad setting): not transient."""


async def ensure_topics(
    settings: ServiceSettings,
    topics: Iterable[Topic],
    *,
    with_dead_letters: bool = True,
    timeout: float | None = None,
    report: bool = True,
) -> list[str]:
    """Create the topics (and their `.dlq`) if missing, with the registry's partitions and policy.

    Returns the deployed names. Waits for the cluster (bootstrap may still be starting) up to
    `timeout` seconds (default `settings.kafka_startup_timeout_seconds`), saying so now and then
    (`wait_for_cluster`).
    """
    wanted: dict[str, Topic] = {}
    for topic in topics:
        wanted[settings.topic(topic.name)] = topic
        if with_dead_letters:
            wanted[settings.topic(topic.dlq)] = dead_letters(topic)
    replication = settings.topic_replication
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    if timeout is None:
        timeout = settings.kafka_startup_timeout_seconds
    deadline = asyncio.get_running_loop().time() + timeout
    await wait_for_cluster(settings, admin.start, timeout, report=report)
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=name,
                num_partitions=topic.partitions,
                replication_factor=replication,
                topic_configs={
                    **topic_configs(topic),
                    **({"min.insync.replicas": "2"} if replication >= 3 else {}),
                },
            )
            for name, topic in wanted.items()
            if name not in existing
        ]
        if missing:
            try:
                response = await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica won the race
            else:
                refused = [
                    f"{topic_error[0]}: {for_code(topic_error[1]).__name__}"
                    for topic_error in response.topic_errors
                    if topic_error[1] not in (0, TopicAlreadyExistsError.errno)
                ]
                if refused:
                    raise TopicsNotCreated(
                        f"cannot create {', '.join(refused)}; create them as a Kafka admin (latchkey-acls "
                        "--apply creates every topic and ACL), or allow this principal to create them"
                    )
            log.info("topics created", topics=[t.name for t in missing])
        await _wait_for_metadata(admin, set(wanted), deadline)
    finally:
        await admin.close()
    return list(wanted)


async def _wait_for_metadata(admin: AIOKafkaAdminClient, names: set[str], deadline: float) -> None:
    """Topic creation is asynchronous in the controller: wait until every partition has a leader."""
    while True:
        described = await admin.describe_topics(list(names))
        ready = {
            d["topic"]
            for d in described
            if d.get("error_code", 0) == 0
            and d["partitions"]
            and all(p["leader"] >= 0 for p in d["partitions"])
        }
        if ready >= names:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics not ready: {sorted(names - ready)}")
        await asyncio.sleep(0.2)


async def adopt_group_offsets(
    settings: ServiceSettings,
    group: str,
    topics: Iterable[str],
    previous: Iterable[str],
    *,
    timeout: float | None = None,
) -> dict[TopicPartition, int]:
    """Start consumer group `group` where the groups `previous` left `topics`, when a new version of a
    service reads them in a group of its own (two subscriptions merged into one, say). Nothing is
    done once `group` has an offset of its own on any of `topics`; without this, the new group would
    read the topics again from the beginning (harmless for idempotent handlers, but the whole
    retention of the topics at once). Returns the offsets adopted.

    The offsets are committed as a client outside the group (generation -1), which the coordinator
    accepts only while the group has no members: it runs before this process's consumers start. When
    a replica of the new version is already consuming, its group has offsets, and there is nothing
    to adopt. Retriable coordinator errors (a cluster still creating __consumer_offsets, a broker
    loading it after a restart) are retried for up to `timeout` seconds (default
    `settings.kafka_startup_timeout_seconds`)."""
    wanted, previous = set(topics), list(previous)
    if timeout is None:
        timeout = settings.kafka_startup_timeout_seconds
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            adopted = await _offsets_to_adopt(settings, group, wanted, previous)
            break
        except KafkaError as exc:
            # A fresh cluster creates __consumer_offsets on the first coordinator lookup and answers
            # "coordinator not available" until its partitions have leaders (seconds with three
            # replicas); a restarted broker answers "loading". Both are retriable: wait, then ask again.
            if not exc.retriable or asyncio.get_running_loop().time() > deadline:
                raise
            log.info("group coordinator not ready yet, retrying", group=group, error=type(exc).__name__)
            await asyncio.sleep(0.5)
    if not adopted:
        return {}
    consumer = AIOKafkaConsumer(**kafka_connection(settings), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(adopted))
        await consumer.commit(adopted)
    finally:
        await consumer.stop()
    log.info(
        "consumer group starts where its predecessors stopped",
        group=group,
        previous=sorted(previous),
        partitions=len(adopted),
    )
    return adopted


async def _offsets_to_adopt(
    settings: ServiceSettings, group: str, wanted: set[str], previous: list[str]
) -> dict[TopicPartition, int]:
    """The highest committed offset per partition of `wanted` among the `previous` groups, or nothing
    when `group` already has an offset of its own on one of them."""
    admin = AIOKafkaAdminClient(**kafka_connection(settings))
    await admin.start()
    try:
        own = await admin.list_consumer_group_offsets(group)
        if any(tp.topic in wanted and meta.offset >= 0 for tp, meta in own.items()):
            return {}
        adopted: dict[TopicPartition, int] = {}
        for old in previous:
            for tp, meta in (await admin.list_consumer_group_offsets(old)).items():
                if tp.topic in wanted and meta.offset >= 0:
                    adopted[tp] = max(meta.offset, adopted.get(tp, 0))
        return adopted
    finally:
        await admin.close()
