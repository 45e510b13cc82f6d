"""The transactional outbox and the inbox on a real PostgreSQL and Kafka: events leave only with
their transaction, exactly once in effect even when the relay dies mid-batch."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy.dialects.postgresql import JSONB

from latchkey.contracts import LIFECYCLE, REQUESTS, RequestCancelled, RequestSubmitted
from latchkey.runtime import (
    Batch,
    ServiceSettings,
    ServiceTables,
    UnitOfWork,
    ensure_topics,
    make_broker,
    make_engine,
    make_producer,
    make_sessions,
    subscribe,
    tracing,
)
from latchkey.runtime.db import Compiled, Read, array_params, insert_from_arrays, read_together
from latchkey.runtime.outbox import OutboxRelay
from latchkey.runtime.testing.bus import events_of, read_until

pytestmark = pytest.mark.infra
SCHEMA = "outbox_test"
HERE = Path(__file__).parent


@pytest.fixture
async def db(database_url: str) -> Any:
    engine = make_engine(database_url)
    tables = ServiceTables(SCHEMA)
    effects = sa.Table(
        "effects",
        tables.metadata,
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("n", sa.Integer),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("doc", JSONB),
    )
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
        await conn.run_sync(tables.metadata.create_all)
    yield engine, tables, effects
    await engine.dispose()


def cancelled(request_id: str) -> RequestCancelled:
    return RequestCancelled(request_id=request_id, producer="test", correlation_id=request_id)


async def test_rolled_back_transaction_publishes_nothing(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    sessions = make_sessions(engine)
    with pytest.raises(RuntimeError):
        async with UnitOfWork(sessions, tables, settings) as uow:
            uow.emit(LIFECYCLE, cancelled("rolled-back"))
            raise RuntimeError("the decision failed")
    async with UnitOfWork(sessions, tables, settings) as uow:
        uow.emit(LIFECYCLE, cancelled("committed"))
    relay = OutboxRelay(engine, lambda: make_producer(settings), tables)
    await relay.open()
    try:
        assert await relay.relay_once() == 1
    finally:
        await relay.close()
    records = await read_until(
        kafka_bootstrap, settings.topic(LIFECYCLE.name), lambda rs: len(rs) >= 1, settle=1.0
    )
    assert [e.request_id for e in events_of(LIFECYCLE, records)] == ["committed"]  # type: ignore[attr-defined]


async def test_relay_killed_between_send_and_mark_publishes_again_and_inbox_makes_it_a_no_op(
    db: Any, database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    engine, tables, effects = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    sessions = make_sessions(engine)
    async with UnitOfWork(sessions, tables, settings) as uow:
        for i in range(20):
            uow.emit(LIFECYCLE, cancelled(f"r{i}"))

    args = [sys.executable, str(HERE / "relay_process.py"), database_url, kafka_bootstrap, SCHEMA]
    doomed = subprocess.Popen([*args, "pause-after-send"], stdout=subprocess.PIPE, text=True)
    assert doomed.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(doomed.stdout.readline), 60)
    assert line.startswith("SENT 20")
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(10)
    async with engine.connect() as conn:
        unsent = await conn.scalar(sa.select(sa.func.count()).where(tables.outbox.c.sent_at.is_(None)))
    assert unsent == 20, "the kill came before the delete: every row is still there, unsent"

    survivor = subprocess.run([*args, "normal"], capture_output=True, text=True, timeout=60, check=True)
    assert "DONE 20" in survivor.stdout

    topic = settings.topic(LIFECYCLE.name)
    records = await read_until(kafka_bootstrap, topic, lambda rs: len(rs) >= 40, settle=0.5)
    published = events_of(LIFECYCLE, records)
    assert len(published) == 40, "at-least-once: the killed batch was published again"
    assert len({e.event_id for e in published}) == 20, "the repeat carries the same event ids"

    # A consumer with an inbox applies each effect once, though it receives each event twice.
    async def apply(batch: Batch[Any]) -> None:
        async with UnitOfWork(sessions, tables, settings) as uow:
            for event in await uow.fresh("audit", batch.events):
                # a plain INSERT: a second application would violate the primary key and fail loudly
                await uow.session.execute(sa.insert(effects).values(request_id=event.request_id, n=1))

    broker = make_broker(settings)
    subscribe(broker, settings, LIFECYCLE, apply, group_id="audit")
    await broker.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline:
            async with engine.connect() as conn:
                inboxed = await conn.scalar(sa.select(sa.func.count()).select_from(tables.inbox))
            if inboxed == 20:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # let the duplicates arrive too
    finally:
        await broker.stop()
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(effects.c.request_id, effects.c.n))).all()
    assert sorted(r.request_id for r in rows) == sorted(f"r{i}" for i in range(20))
    assert all(r.n == 1 for r in rows)


async def test_two_relays_publish_each_row_once_in_commit_order(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [REQUESTS])
    sessions = make_sessions(engine)
    for chunk in range(10):
        async with UnitOfWork(sessions, tables, settings) as uow:
            for i in range(30):
                n = chunk * 30 + i
                uow.emit(
                    REQUESTS,
                    RequestSubmitted(
                        request_id=f"k{n % 3}",
                        id_token="t",
                        integration_id="pg",
                        resource=str(n),
                        permission="ro",
                    ),
                )
    relays = [OutboxRelay(engine, lambda: make_producer(settings), tables, batch_size=25) for _ in range(2)]
    for relay in relays:
        await relay.start()
    try:
        records = await read_until(
            kafka_bootstrap, settings.topic(REQUESTS.name), lambda rs: len(rs) >= 300, settle=1.0
        )
    finally:
        for relay in relays:
            await relay.stop()
    assert sum(r.published for r in relays) == 300
    events = events_of(REQUESTS, records)
    assert len(events) == 300 and len({e.event_id for e in events}) == 300
    for key in ("k0", "k1", "k2"):
        order = [int(e.resource) for e in events if e.request_id == key]  # type: ignore[attr-defined]
        assert order == sorted(order), f"events of {key} were reordered"


async def test_emit_many_streams_its_events_between_the_others_with_keys_and_trace_headers(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    async with UnitOfWork(make_sessions(engine), tables, settings) as uow:
        uow.emit(LIFECYCLE, cancelled("first"))
        uow.emit_many(LIFECYCLE, (cancelled(f"bulk-{i % 7}") for i in range(2000)))
        uow.emit(LIFECYCLE, cancelled("last"))
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(tables.outbox.c.key).order_by(tables.outbox.c.id))
        keys = result.scalars().all()
    assert keys == ["first", *(f"bulk-{i % 7}" for i in range(2000)), "last"], "rows in emit order"
    relay = OutboxRelay(engine, lambda: make_producer(settings), tables)
    await relay.open()
    try:
        while await relay.relay_once():
            pass
    finally:
        await relay.close()
    records = await read_until(
        kafka_bootstrap, settings.topic(LIFECYCLE.name), lambda rs: len(rs) >= 2002, settle=0.5
    )
    assert len(records) == 2002
    for record in records:
        event = LIFECYCLE.parse(record.value)
        assert record.key.decode() == event.request_id  # type: ignore[attr-defined]
        # an untraced event continues the trace derived from its request (correlation) id
        traceparent = dict(record.headers)["traceparent"].decode()
        assert traceparent.split("-")[1] == tracing.trace_id_for(event.correlation_id or "")


async def test_relay_puts_each_key_on_the_partition_a_producer_send_would(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    topic = settings.topic(LIFECYCLE.name)
    keys = [f"request-{i}" for i in range(60)]
    async with UnitOfWork(make_sessions(engine), tables, settings) as uow:
        uow.emit_many(LIFECYCLE, (cancelled(key) for key in keys))
    relay = OutboxRelay(engine, lambda: make_producer(settings), tables)
    await relay.open()
    try:
        assert await relay.relay_once() == len(keys)
    finally:
        await relay.close()
    # aiokafka's own partitioner (the Java client's), not the one the services' producers share with
    # the relay: the reference must not be the code under test
    producer = make_producer(settings, partitioner=DefaultPartitioner())
    await producer.start()
    try:
        for key in keys:
            await producer.send_and_wait(topic, b"direct", key=key.encode())
    finally:
        await producer.stop()
    records = await read_until(kafka_bootstrap, topic, lambda rs: len(rs) >= 2 * len(keys), settle=0.5)
    partitions: dict[str, set[int]] = {}
    for record in records:
        partitions.setdefault(record.key.decode(), set()).add(record.partition)
    assert len({p for ps in partitions.values() for p in ps}) > 1, "the keys spread over partitions"
    assert all(len(ps) == 1 for ps in partitions.values()), "relay and producer disagree on a key"


async def test_a_backlog_is_relayed_in_pipelined_batches_each_row_once_in_order(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    async with UnitOfWork(make_sessions(engine), tables, settings) as uow:
        uow.emit_many(
            LIFECYCLE,
            (
                RequestCancelled(request_id=f"k{i % 4}", producer="test", correlation_id=f"{i:03d}")
                for i in range(95)
            ),
        )
    relay = OutboxRelay(engine, lambda: make_producer(settings), tables, batch_size=10, max_in_flight=3)
    await relay.open()
    try:
        # ten batches, at most three in flight; each deleted once acknowledged
        assert await relay.relay_once() == 95
        async with engine.connect() as conn:
            left = await conn.scalar(sa.select(sa.func.count()).select_from(tables.outbox))
        assert left == 0
        assert await relay.relay_once() == 0
    finally:
        await relay.close()
    records = await read_until(
        kafka_bootstrap, settings.topic(LIFECYCLE.name), lambda rs: len(rs) >= 95, settle=0.5
    )
    events = events_of(LIFECYCLE, records)
    assert sorted(e.correlation_id or "" for e in events) == [f"{i:03d}" for i in range(95)], "each once"
    for key in ("k0", "k1", "k2", "k3"):
        mine = [e.correlation_id for e in events if e.request_id == key]  # type: ignore[attr-defined]
        assert mine == sorted(mine), f"events of {key} were reordered"


async def test_a_relay_that_is_not_the_leader_publishes_nothing_and_takes_over_when_the_lock_is_released(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Only the relay holding the lock publishes. Another holder (here a bare connection standing in
    for a leader) keeps this relay out, and its commit waits; when the holder lets go and says so, this
    relay takes over at once, not at its next poll (30 s here)."""
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    channel = tables.notify_channel
    holder = await psycopg.AsyncConnection.connect(
        engine.url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
    )
    relay = OutboxRelay(engine, lambda: make_producer(settings), tables, poll_interval=30.0)
    try:
        await holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (channel,))
        await relay.start()
        async with UnitOfWork(make_sessions(engine), tables, settings, on_commit=relay.committed) as uow:
            uow.emit(LIFECYCLE, cancelled("while-locked"))
        await asyncio.sleep(0.5)
        assert relay.published == 0 and not relay.leader
        await holder.execute(
            "SELECT pg_advisory_unlock(hashtext(%s)), pg_notify(%s, 'released')", (channel, channel)
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while relay.published == 0:
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        published_while_running = relay.published  # stop() publishes what is left: count before it
        assert relay.leader
    finally:
        await relay.stop()
        await holder.close()
    assert published_while_running == 1
    records = await read_until(kafka_bootstrap, settings.topic(LIFECYCLE.name), lambda rs: len(rs) >= 1)
    assert [e.request_id for e in events_of(LIFECYCLE, records)] == ["while-locked"]  # type: ignore[attr-defined]


async def test_a_commit_in_a_process_whose_relay_is_not_the_leader_is_published_by_the_leader_at_once(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """A commit wakes its own process's relay only; one that is not the leader NOTIFYs the leader, so
    the rows go out now rather than at the leader's next poll (30 s here). A leader that stops hands
    over: the other relay takes the lock and publishes what is committed next."""
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    first, second = (
        OutboxRelay(engine, lambda: make_producer(settings), tables, poll_interval=30.0) for _ in range(2)
    )
    sessions = make_sessions(engine)
    loop = asyncio.get_running_loop()

    async def published_by(relay: OutboxRelay, count: int) -> None:
        deadline = loop.time() + 5.0
        while relay.published < count:
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
        assert relay.published == count

    await first.start()
    await asyncio.sleep(0.3)
    await second.start()
    try:
        await asyncio.sleep(0.3)
        assert first.leader and not second.leader
        async with UnitOfWork(sessions, tables, settings, on_commit=second.committed) as uow:
            uow.emit(LIFECYCLE, cancelled("committed-beside-the-follower"))
        await published_by(first, 1)
        assert second.published == 0
        await first.stop()
        async with UnitOfWork(sessions, tables, settings, on_commit=second.committed) as uow:
            uow.emit(LIFECYCLE, cancelled("after-the-handover"))
        await published_by(second, 1)
        assert second.leader
    finally:
        await first.stop()
        await second.stop()
    records = await read_until(kafka_bootstrap, settings.topic(LIFECYCLE.name), lambda rs: len(rs) >= 2)
    assert {e.request_id for e in events_of(LIFECYCLE, records)} == {  # type: ignore[attr-defined]
        "committed-beside-the-follower",
        "after-the-handover",
    }


async def _until(condition: Any, what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.02)


async def _insert_unannounced(
    engine: Any, tables: ServiceTables, settings: ServiceSettings, key: str
) -> None:
    """An outbox row whose commit no relay hears of: its hand-over goes nowhere, and with a hand-over
    target the unit sends no NOTIFY."""
    async with UnitOfWork(make_sessions(engine), tables, settings, on_commit=lambda _: None) as uow:
        uow.emit(LIFECYCLE, cancelled(key))


async def test_a_caught_up_leader_sends_its_own_commits_as_handed_over_and_reads_at_the_poll(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """The rows a process commits reach its relay with their ids and are sent without a read: a row
    committed beside them that nobody announced stays in the table until a read (the poll, 1.5 s
    here; then the relay goes back to sending hand-overs). A COPYed commit hands nothing over and
    makes the relay read at once."""
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    topic = settings.topic(LIFECYCLE.name)
    sessions = make_sessions(engine)
    relay = OutboxRelay(engine, lambda: make_producer(settings), tables, poll_interval=1.5)
    await relay.start()
    try:
        await _until(lambda: relay.leader, "the relay leads")
        await asyncio.sleep(0.2)  # its first read (an empty table) is done: it is caught up
        await _insert_unannounced(engine, tables, settings, "unannounced")
        async with UnitOfWork(sessions, tables, settings, on_commit=relay.committed) as uow:
            uow.emit(LIFECYCLE, cancelled("handed-over"))
        await _until(lambda: relay.published >= 1, "the hand-over is published")
        async with engine.connect() as conn:
            left = (await conn.execute(sa.select(tables.outbox.c.key))).scalars().all()
        assert left == ["unannounced"], "sent and deleted without reading the table"
        await _until(lambda: relay.published == 2, "the poll's read publishes the other", timeout=5.0)
        async with UnitOfWork(sessions, tables, settings, on_commit=relay.committed) as uow:
            uow.emit_many(LIFECYCLE, (cancelled(f"copied-{i}") for i in range(3)))
        await _until(lambda: relay.published == 5, "the COPYed rows are read at once", timeout=1.0)
    finally:
        await relay.stop()
    records = await read_until(kafka_bootstrap, topic, lambda rs: len(rs) >= 5, settle=0.5)
    keys = sorted(record.key.decode() for record in records)
    assert keys == sorted(["handed-over", "unannounced", "copied-0", "copied-1", "copied-2"])


async def test_a_row_both_read_and_handed_over_is_published_once(
    db: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    """A read that begins after a commit finds its rows, which may also be handed over: the relay
    remembers the ids it sent, and each row goes out once."""
    engine, tables, _ = db
    settings = ServiceSettings(kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    await ensure_topics(settings, [LIFECYCLE])
    relay = OutboxRelay(engine, lambda: make_producer(settings), tables, poll_interval=30.0)
    handed: list[Any] = []
    await relay.start()
    try:
        await _until(lambda: relay.leader, "the relay leads")
        async with UnitOfWork(make_sessions(engine), tables, settings, on_commit=handed.append) as uow:
            uow.emit(LIFECYCLE, cancelled("read-first"))
            uow.emit(LIFECYCLE, cancelled("read-too"))
        relay.wake()  # as a NOTIFY would: the relay reads, sends and deletes them
        await _until(lambda: relay.published == 2, "the read is published")
        [records] = handed
        assert [r.key for r in records] == ["read-first", "read-too"] and records[0].id < records[1].id
        relay.committed(records)  # ... and the committer hands the same rows over, late
        async with UnitOfWork(make_sessions(engine), tables, settings, on_commit=relay.committed) as uow:
            uow.emit(LIFECYCLE, cancelled("after"))
        await _until(lambda: relay.published >= 3, "the next commit is published")
        await asyncio.sleep(0.3)
        assert relay.published == 3, "a row was sent twice"
    finally:
        await relay.stop()
    records = await read_until(
        kafka_bootstrap, settings.topic(LIFECYCLE.name), lambda rs: len(rs) >= 3, settle=1.0
    )
    assert sorted(record.key.decode() for record in records) == ["after", "read-first", "read-too"]


async def test_a_failing_write_at_commit_leaves_nothing_and_the_next_unit_commits(db: Any) -> None:
    """Queued writes, outbox rows and COMMIT share one pipeline: when a write fails, the effect, the
    inbox marks and the events all stay out, and the pooled connection is fit for the next unit."""
    engine, tables, effects = db
    settings = ServiceSettings()
    sessions = make_sessions(engine)
    insert = f'INSERT INTO "{SCHEMA}".effects (request_id, n) VALUES (%s, %s)'
    event = cancelled("clash")
    with pytest.raises(psycopg.errors.UniqueViolation):
        async with UnitOfWork(sessions, tables, settings) as uow:
            assert await uow.fresh("c", [event]) == [event]
            uow.write_at_commit(insert, ("clash", 1))
            uow.write_at_commit(insert, ("clash", 2))  # same key: the commit fails here
            uow.emit(LIFECYCLE, event)
    async with engine.connect() as conn:
        assert (await conn.scalar(sa.select(sa.func.count()).select_from(effects))) == 0
        assert (await conn.scalar(sa.select(sa.func.count()).select_from(tables.outbox))) == 0
        assert (await conn.scalar(sa.select(sa.func.count()).select_from(tables.inbox))) == 0

    async with UnitOfWork(sessions, tables, settings) as uow:
        assert await uow.fresh("c", [event]) == [event]
        uow.write_at_commit(insert, ("clash", 1))
        uow.emit(LIFECYCLE, event)
        uow.emit(LIFECYCLE, cancelled("second"))
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(effects.c.request_id, effects.c.n))).all() == [("clash", 1)]
        keys = (await conn.execute(sa.select(tables.outbox.c.key).order_by(tables.outbox.c.id))).scalars()
        assert list(keys) == ["clash", "second"]  # numbered in emit order


async def test_reads_together_return_in_order_and_each_sees_the_one_before(db: Any) -> None:
    """`read_together` sends its statements in one pipeline: results come back in order, and a
    statement runs after the previous one (here the second read sees the inbox row the first wrote)."""
    engine, tables, _ = db
    sessions = make_sessions(engine)
    inbox = tables.inbox
    count = Compiled(sa.select(sa.func.count()).select_from(inbox).where(inbox.c.consumer == "c"))
    first = cancelled("a")
    events = [first, cancelled("b"), first]
    async with UnitOfWork(sessions, tables, ServiceSettings()) as uow:
        fresh, counted = await read_together(
            uow.session, uow.inbox("c", events), Read(count, {}, lambda rows: rows[0][0])
        )
        assert fresh == events[:2]  # each event once, in order
        assert counted == 2
        again, counted = await read_together(
            uow.session, uow.inbox("c", events), Read(count, {}, lambda rows: rows[0][0])
        )
        assert again == [] and counted == 2


async def test_purge_deletes_rows_an_earlier_version_marked_sent_once_kept_long_enough(db: Any) -> None:
    engine, tables, _ = db
    outbox = tables.outbox
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(outbox),
            [
                {"topic": "t", "key": "old", "value": b"v", "sent_at": now - timedelta(hours=2)},
                {"topic": "t", "key": "recent", "value": b"v", "sent_at": now},
                {"topic": "t", "key": "unsent", "value": b"v", "sent_at": None},
            ],
        )
    relay = OutboxRelay(engine, lambda: None, tables, keep_sent_seconds=3600)  # type: ignore[arg-type,return-value]
    try:
        assert await relay.purge_sent() == 1
    finally:
        await relay.close()
    async with engine.connect() as conn:
        left = (await conn.execute(sa.select(outbox.c.key).order_by(outbox.c.key))).scalars().all()
    assert left == ["recent", "unsent"]


async def test_rows_written_from_arrays_keep_every_awkward_value(db: Any) -> None:
    """Arrays go to PostgreSQL in binary form (`insert_from_arrays`, the outbox INSERT): quotes,
    backslashes, braces, commas, NULLs, empty strings, non-ASCII text and JSON arrive as written."""
    engine, tables, effects = db
    at = datetime(2026, 12, 3, 9, 30, 1, 250, tzinfo=UTC)
    rows = [
        {"request_id": 'q"uo\\te', "n": 2**31 - 1, "at": at, "doc": {"a": 'x"}{,\\', "b": [1, None]}},
        {"request_id": "{a,b}", "n": None, "at": None, "doc": None},
        {"request_id": "", "n": -1, "at": at, "doc": ["é", "NULL"]},
        {"request_id": "NULL", "n": 0, "at": at, "doc": {}},
    ]
    columns = ("request_id", "n", "at", "doc")
    event = cancelled("awkward")
    key = 'k"e\\y,{ü}'
    async with UnitOfWork(make_sessions(engine), tables, ServiceSettings()) as uow:
        uow.write_at_commit(insert_from_arrays(effects, columns), array_params(effects, rows, columns))
        uow.emit(LIFECYCLE, event, key=key)
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(effects).order_by(effects.c.request_id))).mappings().all()
        outbox = (await conn.execute(sa.select(tables.outbox))).one()
    assert sorted((dict(r) for r in stored), key=lambda r: r["request_id"]) == sorted(
        rows, key=lambda r: r["request_id"]
    )
    assert outbox.key == key
    assert RequestCancelled.model_validate_json(outbox.value) == event


async def test_units_begin_with_their_reads_and_leave_the_pooled_connection_transactional(
    database_url: str, db: Any
) -> None:
    """A unit of work sends BEGIN with its first reads (the connection is switched to autocommit for
    that): whether it commits, fails in the handler or fails at commit, the one pooled connection it
    used must afterwards behave as before: a statement outside a unit is rolled back with its session."""
    _, tables, effects = db
    engine = make_engine(database_url, pool_size=1)
    sessions = make_sessions(engine)
    insert = f'INSERT INTO "{SCHEMA}".effects (request_id, n) VALUES (%s, %s)'

    async def stray_write_is_rolled_back(key: str) -> None:
        async with sessions() as session:
            await session.execute(sa.insert(effects).values(request_id=key, n=0))
            await session.rollback()
        async with sessions() as session:
            assert await session.scalar(sa.select(effects.c.n).where(effects.c.request_id == key)) is None

    try:
        async with UnitOfWork(sessions, tables, ServiceSettings()) as uow:
            assert await uow.fresh("c", [cancelled("one")])
            uow.write_at_commit(insert, ("one", 1))
        await stray_write_is_rolled_back("after-commit")

        with pytest.raises(RuntimeError):
            async with UnitOfWork(sessions, tables, ServiceSettings()) as uow:
                assert await uow.fresh("c", [cancelled("two")])
                uow.write_at_commit(insert, ("two", 2))
                raise RuntimeError("the handler failed")
        await stray_write_is_rolled_back("after-handler-failure")

        with pytest.raises(psycopg.errors.UniqueViolation):
            async with UnitOfWork(sessions, tables, ServiceSettings()) as uow:
                assert await uow.fresh("c", [cancelled("three")])
                uow.write_at_commit(insert, ("one", 3))  # taken: the commit fails
        await stray_write_is_rolled_back("after-commit-failure")

        async with UnitOfWork(sessions, tables, ServiceSettings()) as uow:  # and units still work
            assert [e.request_id for e in await uow.fresh("c", [cancelled("two"), cancelled("four")])] == [
                "two",
                "four",
            ]
            uow.write_at_commit(insert, ("four", 4))
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(effects.c.request_id, effects.c.n))).all()
        assert sorted(stored) == [("four", 4), ("one", 1)]
        assert engine.pool.checkedout() == 0
    finally:
        await engine.dispose()


async def test_a_dead_client_cannot_keep_its_locks_for_hours(db: Any) -> None:
    """Every service session asks the server to probe its client (TCP keepalives) and to end a
    transaction left idle: a replica that dies between claiming rows and COMMIT releases them in
    seconds, not when the kernel gives up on the socket (about two hours)."""
    engine = db[0]
    async with engine.connect() as conn:
        settings = {
            name: await conn.scalar(sa.text(f"SHOW {name}"))
            for name in ("tcp_keepalives_idle", "tcp_keepalives_count", "idle_in_transaction_session_timeout")
        }
    assert settings == {
        "tcp_keepalives_idle": "10",
        "tcp_keepalives_count": "3",
        "idle_in_transaction_session_timeout": "1min",
    }
