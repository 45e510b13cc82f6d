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
from aiokafka import AIOKafkaProducer
from psycopg.rows import namedtuple_row
from sqlalchemy.ext.asyncio import AsyncEngine

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
        # The relay's own connection (plain psycopg: its few statements need none of SQLAlchemy, whose
        # per-statement work cost more CPU than the statements), with its settings fixed at connect:
        # - synchronous_commit=off: marking rows sent need not wait for the WAL flush; should
        #   PostgreSQL crash and lose the mark, the rows are published again and consumers' inboxes
        #   drop the repeats. One fsync less per relayed batch, on the path of every event.
        # - enable_bitmapscan=off: right after a bulk COPY (an identity full sync: 110k rows) the
        #   table's statistics still say "a few hundred rows", and the planner then bitmap-scans and
        #   sorts every unsent row (~0.5 s per batch) instead of reading the next batch off the
        #   unsent index (~10 ms).
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._build_statements()

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
        await self._disconnect()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = await psycopg.AsyncConnection.connect(
                self._url,
                options="-c synchronous_commit=off -c enable_bitmapscan=off",
                row_factory=namedtuple_row,
                autocommit=True,  # transactions are begun by hand (see relay_once)
            )
        return self._conn

    async def _disconnect(self) -> None:
        """Drop the connection (after a failure its state is unknown; the next pass reconnects)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

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
        try:
            conn = await self._connection()
            # Pipeline mode: statements are sent without waiting for each reply; reading a result
            # waits (syncs). Taking the lock, then reading the first batch, is one round trip, and
            # marking the last batch sent plus COMMIT another. The read is its own statement after
            # the lock's, so its snapshot is taken once the lock is held: it cannot predate the commit
            # of the relay that just released the lock. (When the lock is missed the rows read are
            # simply dropped.)
            # The connection is in autocommit mode and the transaction is begun and ended by hand, inside
            # the pipeline: psycopg's own BEGIN (or `transaction()`) in pipeline mode waits for a sync
            # of its own, a round trip more per pass (measured: half the client CPU per pass).
            async with conn.pipeline():
                await conn.execute("BEGIN")
                lock = await conn.execute(self._lock_sql, (self._tables.notify_channel,))
                first = await conn.execute(self._batch_sql, (self._resume_after, self._batch_size))
                self.lock_missed = not (await lock.fetchone())[0]  # type: ignore[index]
                rows: Sequence[Any] = () if self.lock_missed else await first.fetchall()
                if not rows:
                    await conn.execute("COMMIT")  # sent with the pipeline's closing sync
                    if not self.lock_missed:
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
                await conn.execute("COMMIT")
        except BaseException:
            await self._disconnect()
            raise
        self.published += published
        self._resume_after = rows[-1].id if len(rows) >= self._batch_size else 0
        return published

    def _build_statements(self) -> None:
        """The relay's statements (SQL text; psycopg prepares each after a few uses)."""
        table = f'"{self._tables.schema}"."outbox"'
        # headers as text: a batch usually repeats a few header sets, each decoded once
        self._batch_sql = (
            f"SELECT id, topic, key, value, headers::text AS headers FROM {table}"
            " WHERE sent_at IS NULL AND id > %s ORDER BY id LIMIT %s"
        )
        # transaction-scoped, never waits
        self._lock_sql = "SELECT pg_try_advisory_xact_lock(hashtext(%s))"
        # one array parameter, not a bound parameter per id (a 1,000-row IN list is slow to bind)
        self._mark_sql = f"UPDATE {table} SET sent_at = now() WHERE id = ANY(%b::bigint[])"

    async def _next_batch(self, conn: psycopg.AsyncConnection[Any], after: int) -> Sequence[Any]:
        return await (await conn.execute(self._batch_sql, (after, self._batch_size))).fetchall()

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

    async def _mark_sent(self, conn: psycopg.AsyncConnection[Any], ids: list[int]) -> None:
        await conn.execute(self._mark_sql, (ids,))  # in the pipeline: sent with the COMMIT

    async def purge_sent(self) -> int:
        try:
            conn = await self._connection()
            cursor = await conn.execute(  # one statement: its own transaction (autocommit)
                f'DELETE FROM "{self._tables.schema}"."outbox"'
                " WHERE sent_at < now() - make_interval(secs => %s)",
                (self._keep_sent_seconds,),
            )
        except BaseException:
            await self._disconnect()
            raise
        return int(cursor.rowcount or 0)

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
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
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
