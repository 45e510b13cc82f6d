"""The shared fixtures give a real Kafka broker and a real PostgreSQL server (nothing mocked)."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from latchkey.runtime.testing import (
    Infra,
    KafkaCluster,
    create_database,
    delete_prefixed_topics,
    drop_database,
    issued_prefixes,
    libpq_url,
    safe_database_name,
    unique_prefix,
)

pytestmark = pytest.mark.infra


async def test_kafka_produce_and_consume(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}infra.roundtrip"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    sent = {f"k{i}".encode(): uuid.uuid4().bytes for i in range(20)}
    try:
        for key, value in sent.items():
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=f"{topic_prefix}g",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    got: dict[bytes, bytes] = {}
    try:
        while len(got) < len(sent):
            batch = await consumer.getmany(timeout_ms=10_000)
            assert batch, f"no records within 10 s; got {len(got)} of {len(sent)}"
            for records in batch.values():
                got.update({r.key: r.value for r in records})
        await consumer.commit()
    finally:
        await consumer.stop()
    assert got == sent


def test_topics_under_issued_prefixes_can_be_deleted(kafka_bootstrap: str) -> None:
    """What external mode does at teardown: this process's prefixes go, nobody else's topics."""
    mine, theirs = unique_prefix("mine"), f"x{uuid.uuid4().hex[:8]}."
    assert mine in issued_prefixes() and theirs not in issued_prefixes()
    names = [f"{mine}a.v1", f"{mine}a.v1.dlq", f"{theirs}a.v1", f"{mine[:-1]}0.a.v1"]  # the last: no '.'

    async def topics(create: list[str] | None = None) -> set[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            if create:
                await admin.create_topics(
                    [NewTopic(n, num_partitions=1, replication_factor=1) for n in create]
                )
            return set(await admin.list_topics())
        finally:
            await admin.close()

    assert set(names) <= asyncio.run(topics(names))
    deleted = delete_prefixed_topics(kafka_bootstrap, [mine])
    assert deleted == [f"{mine}a.v1", f"{mine}a.v1.dlq"]
    for _ in range(50):  # a deletion is asynchronous in the controller
        left = asyncio.run(topics())
        if not set(deleted) & left:
            break
        time.sleep(0.1)
    assert not set(deleted) & left
    assert {f"{theirs}a.v1", f"{mine[:-1]}0.a.v1"} <= left
    with pytest.raises(ValueError, match="must end with"):
        delete_prefixed_topics(kafka_bootstrap, ["mine"])
    with pytest.raises(ValueError, match="label"):
        unique_prefix("Mine.")
    delete_prefixed_topics(kafka_bootstrap, [theirs, f"{mine[:-1]}0."])


async def test_auto_topic_creation_is_off(kafka_bootstrap: str, topic_prefix: str) -> None:
    # Services must create their topics; a misspelt name must fail, not silently create a topic.
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - aiokafka raises a timeout for unknown topics
            await producer.send_and_wait(f"{topic_prefix}nonexistent", b"x")
    finally:
        await producer.stop()


async def test_database_roundtrip(database_url: str) -> None:
    assert database_url.startswith("postgresql+psycopg://")
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE grants (id int PRIMARY KEY, who text NOT NULL)"))
            await conn.execute(text("INSERT INTO grants VALUES (1, 'ada'), (2, 'grace')"))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT who FROM grants ORDER BY id"))).scalars().all()
            version = (await conn.execute(text("SHOW server_version_num"))).scalar_one()
    finally:
        await engine.dispose()
    assert rows == ["ada", "grace"]
    assert int(version) >= 150000


def test_databases_are_isolated(infra: Infra, database_url: str) -> None:
    other = create_database(infra.admin_database_url, safe_database_name("other"))
    try:
        with psycopg.connect(libpq_url(database_url), autocommit=True) as a:
            a.execute("CREATE TABLE only_here (x int)")
        with psycopg.connect(libpq_url(other), autocommit=True) as b:
            exists = b.execute("SELECT to_regclass('public.only_here')").fetchone()
        assert exists == (None,)
    finally:
        drop_database(infra.admin_database_url, other)
    with psycopg.connect(infra.admin_database_url) as admin:
        left = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (other.rsplit("/", 1)[1],))
        assert left.fetchone() is None


def test_fresh_database_per_test_is_empty(database_url: str) -> None:
    # The previous tests created tables; this one's database must not have them.
    with psycopg.connect(libpq_url(database_url)) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,)


def test_durability_defaults(infra: Infra) -> None:
    with psycopg.connect(infra.admin_database_url) as conn:
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')"
            ).fetchall()
        )
    assert settings == {"fsync": "on", "synchronous_commit": "on"}


@pytest.mark.slow
async def test_three_node_cluster_survives_a_killed_node(kafka_ha: KafkaCluster, topic_prefix: str) -> None:
    topic = f"{topic_prefix}infra.ha"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_ha.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=3)])
    finally:
        await admin.close()

    kafka_ha.kill_node(2)
    assert not kafka_ha.is_running(2)
    # acks=all still succeeds with 2 of 3 replicas in sync (min.insync.replicas=2). Partitions led by
    # node 2 need a new leader first (the controller notices after broker.session.timeout.ms, 9 s),
    # so give requests time on a loaded 2-core machine.
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_ha.bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=60_000
    )
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=str(i).encode())
    finally:
        await producer.stop()

    kafka_ha.start_node(2)
    assert kafka_ha.is_running(2)
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_ha.node_bootstrap(2), auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        while len(got) < 10:
            batch = await consumer.getmany(timeout_ms=30_000)
            assert batch, f"only {len(got)} of 10 records after restarting node 2"
            got += [r.value for records in batch.values() for r in records]
    finally:
        await consumer.stop()
    assert sorted(got) == sorted(f"m{i}".encode() for i in range(10))
