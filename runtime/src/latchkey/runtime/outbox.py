"""The outbox relay: publishes committed outbox rows to Kafka in commit order, then marks them sent.

Several relays (replicas) may run: each batch is taken under a PostgreSQL advisory lock, so exactly
one relay publishes at a time and order is kept. A relay killed between publishing and marking
publishes that batch again on restart (at-least-once); consumers' inboxes make the repeat a no-op.

A batch is published as one record batch per (topic, partition), built with the producer's batch API
and partitioned exactly like `send` (the Java client's murmur2 of the key): a large backlog (an
identity full sync is ~110k events) costs a fraction of the per-record `send` path.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .db import ServiceTables
from .kafka import partition_for
from .observability import get_logger

log = get_logger(__name__)

LOCK_RETRY_SECONDS = 0.01
"""How soon a relay that found the lock taken tries again (jittered)."""


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        producer_factory: Callable[[], AIOKafkaProducer],
        tables: ServiceTables,
        *,
        batch_size: int = 5000,
        batches_per_transaction: int = 4,
        poll_interval: float = 1.0,
        keep_sent_seconds: int = 3600,
    ) -> None:
        self._engine = engine
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._tables = tables
        self._batch_size = batch_size
        self._batches_per_transaction = max(1, batches_per_transaction)
        self._poll_interval = poll_interval
        self._keep_sent_seconds = keep_sent_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        # While draining a backlog, the next batch starts after the last one: the rows just marked sent
        # stay in the unsent index as dead entries until vacuum, and rescanning them from the start
        # made each batch slower than the one before. A partial batch ends the drain; the next one
        # starts from the beginning again, so a row committed late with a lower id is not skipped.
        self._resume_after = 0
        # Set when another relay held the lock: try again shortly, since its batch may have been read
        # before this process's last commit (a commit wakes only the relay of its own process).
        self.lock_missed = False
        # The relay's own connection, with its settings fixed at connect: no per-transaction
        # set_config.
        # - synchronous_commit=off: marking rows sent need not wait for the WAL flush; should
        #   PostgreSQL crash and lose the mark, the rows are published again and consumers' inboxes
        #   drop the repeats. One fsync less per relayed batch, on the path of every event.
        # - enable_bitmapscan=off: right after a bulk COPY (an identity full sync: 110k rows) the
        #   table's statistics still say "a few hundred rows", and the planner then bitmap-scans and
        #   sorts every unsent row (~0.5 s per batch) instead of reading the next batch off the
        #   unsent index (~10 ms).
        self._build_statements()
        self._db = create_async_engine(
            engine.url,
            pool_size=1,
            max_overflow=1,
            connect_args={"options": "-c synchronous_commit=off -c enable_bitmapscan=off"},
        )

    def wake(self) -> None:
        """Something was committed in this process: publish now rather than at the next poll."""
        self._wake.set()

    async def open(self) -> None:
        """Connect the producer (created here: aiokafka needs the running loop)."""
        if self._producer is None:
            self._producer = self._producer_factory()
            await self._producer.start()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self._db.dispose()

    async def start(self) -> None:
        """Open, then relay continuously until `stop()`."""
        await self.open()
        self._tasks = [
            asyncio.create_task(self._run(), name="outbox-relay"),
            asyncio.create_task(self._listen(), name="outbox-listen"),
        ]

    async def stop(self) -> None:
        """Finish the batch in flight, then stop."""
        self._stopping.set()
        self._wake.set()
        for task in self._tasks:
            if task.get_name() == "outbox-listen":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.close()

    async def relay_once(self) -> int:
        """Publish what is unsent, up to `batches_per_transaction` batches, if this relay holds the
        lock; returns how many rows were published.

        The batches of one call are pipelined: the next batch is read and handed to the producer
        while the brokers acknowledge the previous one, whose rows are then marked sent. They commit
        together, so a relay killed mid-call publishes at most that many batches again."""
        async with self._db.begin() as conn:
            self.lock_missed = not await conn.scalar(self._lock_stmt)
            if self.lock_missed:
                return 0
            rows = await self._next_batch(conn, self._resume_after)
            if not rows:
                self._resume_after = 0
                return 0
            published = 0
            in_flight = [await self._send(rows)]
            try:
                for batch in range(1, self._batches_per_transaction + 1):
                    following: Sequence[Any] = ()
                    if len(rows) >= self._batch_size and batch < self._batches_per_transaction:
                        following = await self._next_batch(conn, rows[-1].id)
                    if following:
                        in_flight.append(await self._send(following))
                    await in_flight[0]
                    await self._mark_sent(conn, [row.id for row in rows])
                    published += len(rows)
                    in_flight.pop(0)
                    if not following:
                        break
                    rows = following
            finally:
                # after a failure a batch may still be in flight: collect it (its rows stay unsent)
                await asyncio.gather(*in_flight, return_exceptions=True)
        self.published += published
        self._resume_after = rows[-1].id if len(rows) >= self._batch_size else 0
        return published

    def _build_statements(self) -> None:
        """The relay's three statements, built once (parameters `after`, `ids`): building and hashing a
        statement costs more CPU than PostgreSQL spends running these."""
        outbox = self._tables.outbox
        after = sa.bindparam("after", type_=sa.BigInteger)
        self._batch_stmt = (
            # headers as text: a batch usually repeats a few header sets, each decoded once
            sa.select(
                outbox.c.id,
                outbox.c.topic,
                outbox.c.key,
                outbox.c.value,
                sa.cast(outbox.c.headers, sa.Text).label("headers"),
            )
            .where(outbox.c.sent_at.is_(None), outbox.c.id > after)
            .order_by(outbox.c.id)
            .limit(self._batch_size)
        )
        # The lock (transaction-scoped, never waits) is its own statement, before the batch is read:
        # a statement's snapshot is taken when it starts, so a batch read in the statement that takes
        # the lock could predate the commit of the relay that just released it, and publish its rows
        # again.
        self._lock_stmt = sa.select(
            sa.func.pg_try_advisory_xact_lock(sa.func.hashtext(self._tables.notify_channel))
        )
        self._mark_stmt = (
            sa.update(outbox)
            # one array parameter, not a bound parameter per id (a 1,000-row IN list is slow to bind)
            .where(outbox.c.id == sa.any_(sa.bindparam("ids", type_=ARRAY(sa.BigInteger))))
            .values(sent_at=sa.func.now())
        )

    async def _next_batch(self, conn: AsyncConnection, after: int) -> Sequence[Any]:
        return list((await conn.execute(self._batch_stmt, {"after": after})).all())

    async def _publish(self, rows: Sequence[Any]) -> None:
        """Send every row and wait until the brokers acknowledged all of them (acks=all)."""
        await (await self._send(rows))

    async def _send(self, rows: Sequence[Any]) -> asyncio.Future[Any]:
        """Hand every row to the producer; the returned future completes when the brokers have
        acknowledged all of them.

        Rows are appended to one record batch per topic-partition (Kafka's default partitioner on the
        key, so a key keeps its partition whoever produces it) and each batch is submitted whole:
        far less work per record than one `send()` each, and still in outbox order per partition."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("OutboxRelay.open() was not called")
        counts: dict[str, int] = {}
        spread = itertools.count()
        batches: dict[tuple[str, int], Any] = {}
        sent: list[asyncio.Future[Any]] = []
        headers_of: dict[str, list[tuple[str, bytes]]] = {}  # a batch repeats a few header sets
        for row in rows:
            count = counts.get(row.topic)
            if count is None:
                count = counts[row.topic] = len(await producer.partitions_for(row.topic))
            key = row.key.encode() if row.key is not None else None
            where = (row.topic, partition_for(key, count) if key is not None else next(spread) % count)
            headers = headers_of.get(row.headers)
            if headers is None:
                decoded = json.loads(row.headers) if row.headers else {}
                headers = headers_of[row.headers] = [(k, str(v).encode()) for k, v in decoded.items()]
            batch = batches.get(where)
            if batch is None:
                batch = batches[where] = producer.create_batch()
            if batch.append(key=key, value=row.value, timestamp=None, headers=headers) is None:
                # full: submit it (in order) and start the next batch with this record (a first
                # record always fits: the builder takes it whatever its size)
                sent.append(await producer.send_batch(batch, where[0], partition=where[1]))
                batch = batches[where] = producer.create_batch()
                batch.append(key=key, value=row.value, timestamp=None, headers=headers)
        for (topic, partition), batch in batches.items():
            sent.append(await producer.send_batch(batch, topic, partition=partition))
        return asyncio.gather(*sent)

    async def _mark_sent(self, conn: AsyncConnection, ids: list[int]) -> None:
        await conn.execute(self._mark_stmt, {"ids": ids})

    async def purge_sent(self) -> int:
        outbox = self._tables.outbox
        async with self._db.begin() as conn:
            result = await conn.execute(
                sa.delete(outbox).where(
                    outbox.c.sent_at
                    < sa.func.now() - sa.text(f"interval '{int(self._keep_sent_seconds)} seconds'")
                )
            )
        return int(result.rowcount or 0)

    async def _run(self) -> None:
        failures = 0
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                published = await self.relay_once()
                failures = 0
                if loop.time() - last_purge > 60:
                    last_purge = loop.time()
                    await self.purge_sent()
            except Exception as exc:  # Kafka or PostgreSQL unavailable: back off, the rows wait
                failures += 1
                delay = min(30.0, 0.2 * 2**failures) * random.random()
                log.warning("outbox relay failed, retrying", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if self._stopping.is_set():
                return
            if self._resume_after:
                continue  # the last batch was full: more are waiting
            if self.lock_missed and not self._stopping.is_set():
                # Another relay is publishing; it may have read its batch before our last commit.
                await asyncio.sleep(LOCK_RETRY_SECONDS * (0.5 + random.random()))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            if self._stopping.is_set() and published == 0:
                # one last pass publishes what was committed just before shutdown
                with contextlib.suppress(Exception):
                    await self.relay_once()
                return

    async def _listen(self) -> None:
        """LISTEN for commits made by other processes (other replicas, tools) to wake promptly."""
        url = self._engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f'LISTEN "{self._tables.notify_channel}"')
                    async for _ in conn.notifies():
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("outbox listener reconnecting", error=str(exc))
                await asyncio.sleep(1.0)


def headers_dict(headers: Any) -> dict[str, str]:
    """Kafka record headers as a str → str dict (undecodable values are dropped)."""
    out: dict[str, str] = {}
    for key, value in headers or ():
        with contextlib.suppress(UnicodeDecodeError, AttributeError):
            out[key] = value.decode() if isinstance(value, bytes) else str(value)
    return out
