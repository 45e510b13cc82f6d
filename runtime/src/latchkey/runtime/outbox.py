"""The outbox relay: publishes committed outbox rows to Kafka in commit order, then deletes them.

Several relays (one per service replica) may run; one of them, the *leader*, publishes: it holds a
session-level PostgreSQL advisory lock for as long as its connection lives. The others try to take the
lock at each poll and whenever their own process commits (and, failing, NOTIFY the leader, so rows
committed anywhere are published at once); a leader that stops releases the lock and says so, and one
that dies loses it with its connection. A relay killed between publishing and deleting leaves those
rows in place, and they are published again (at-least-once); consumers' inboxes make the repeat a no-op.

The leader publishes in a pipeline: a batch is read and handed to the producer while earlier batches
are still waiting for the brokers' acknowledgement (at most `max_in_flight` of them), and each
acknowledged batch is deleted in the same round trip as the next read. A row committed while a
batch is in flight therefore goes out after one read, not after the whole previous cycle (read, send,
acknowledgement, delete).

An acknowledged row is deleted, not kept: Kafka holds what was published. (Marking rows sent
and purging them an hour later cost an UPDATE that copies each ~1 kB row, its index entries and a
DELETE later: about three times the database work per event of one DELETE.)

A leader that is caught up (its last read found less than a full batch) does not read back what its
own process commits: the unit of work hands the committed rows, with the ids the INSERT returned, to
`committed()`, and the relay sends them as they are, then deletes them once acknowledged. That takes
the relay's read, a round trip and a turn of the event loop, off the path of every event. It reads
the table again whenever it cannot know what is there: on becoming the leader, after a failure, when
another process NOTIFYs a commit, when a unit COPYed its rows (a bulk sync), at every idle poll and
at stop. Rows a read sends and rows handed over may overlap (a read that began after the commit);
the ids sent recently are remembered, so such a row goes out once.

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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg
from aiokafka import AIOKafkaProducer
from psycopg.rows import namedtuple_row
from sqlalchemy.ext.asyncio import AsyncEngine

from .db import ServiceTables
from .kafka import partition_for
from .observability import get_logger

log = get_logger(__name__)

RELEASED = "released"
"""NOTIFY payload of a leader that let go of the lock: the other relays try to take it at once."""


RECENT_IDS = 65536
"""How many of the ids sent last the relay remembers, so that a row both read and handed over by its
committer goes out once (the two meet within one commit's round trip; this is many batches)."""


class OutboxRecord(NamedTuple):
    """A committed outbox row, as `committed()` takes it and the relay's read returns it."""

    id: int
    topic: str
    key: str | None
    value: bytes | None
    headers: str
    """The headers as JSON text."""


@dataclass
class _InFlight:
    """A batch handed to the producer: its outbox ids, and the brokers' acknowledgement of all of it."""

    ids: list[int]
    acked: asyncio.Future[Any]


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        producer_factory: Callable[[], AIOKafkaProducer],
        tables: ServiceTables,
        *,
        batch_size: int = 5000,
        max_in_flight: int = 4,
        poll_interval: float = 1.0,
        keep_sent_seconds: int = 3600,
    ) -> None:
        self._producer_factory = producer_factory
        self._producer: AIOKafkaProducer | None = None
        self._tables = tables
        self._batch_size = batch_size
        self._max_in_flight = max(1, max_in_flight)
        self._poll_interval = poll_interval
        self._keep_sent_seconds = keep_sent_seconds
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight: deque[_InFlight] = deque()
        self.published = 0
        """Rows acknowledged by the brokers and deleted by this relay."""
        self.leader = False
        """Whether this relay holds the lock (and is the one publishing)."""
        # While draining a backlog, the next batch is read after the last one: the rows just deleted
        # stay in the unsent index as dead entries until vacuum, and rescanning them from the start
        # made each batch slower than the one before. A partial batch ends the drain; the next read
        # starts from the beginning again (skipping the batches in flight), so a row committed late
        # with a lower id is not skipped.
        self._resume_after = 0
        # Handed over by this process's commits and not sent yet; whether the table must be read before
        # sending them (see the module's docstring); the ids sent recently, oldest first.
        self._handed_over: list[OutboxRecord] = []
        self._read_needed = True
        self._recent: dict[int, None] = {}
        # The relay's own connection (plain psycopg: its few statements need none of SQLAlchemy, whose
        # per-statement work cost more CPU than the statements), with its settings fixed at connect:
        # - synchronous_commit=off: deleting sent rows need not wait for the WAL flush; should
        #   PostgreSQL crash and lose the delete, the rows are published again and consumers' inboxes
        #   drop the repeats. One fsync less per relayed batch, on the path of every event.
        # - enable_bitmapscan=off: right after a bulk COPY (an identity full sync: 110k rows) the
        #   table's statistics still say "a few hundred rows", and the planner then bitmap-scans and
        #   sorts every unsent row (~0.5 s per batch) instead of reading the next batch off the
        #   unsent index (~10 ms).
        # - TCP keepalives on the server side: a leader cut off from PostgreSQL (not dead, so its
        #   socket is never closed) holds the lock until its backend notices; probing an idle
        #   connection ends that backend, and frees the lock, within about 20 s.
        self._url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._build_statements()

    def wake(self) -> None:
        """Something was committed that this relay must read: publish it now, not at the next poll."""
        self._read_needed = True
        self._wake.set()

    def committed(self, records: Sequence[OutboxRecord] | None) -> None:
        """This process committed outbox rows: `records` (in id order), or `None` when it cannot hand
        them over (they were COPYed), and then the relay reads them. Returns at once; the relay's task
        sends them."""
        if records is None or not self._tasks:  # (not running: its first read finds them)
            self._read_needed = True
        else:
            self._handed_over.extend(records)
        self._wake.set()

    async def open(self) -> None:
        """Connect the producer (created here: aiokafka needs the running loop)."""
        if self._producer is None:
            self._producer = self._producer_factory()
            await self._producer.start()

    async def close(self) -> None:
        """Release the lock (telling the other relays), then disconnect."""
        if self.leader and self._conn is not None and not self._conn.closed:
            with contextlib.suppress(Exception):
                channel = self._tables.notify_channel
                await self._conn.execute(self._release_sql, (channel, channel, RELEASED))
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self._disconnect()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self.leader = False  # a session-level lock lives and dies with its connection
            self._conn = await psycopg.AsyncConnection.connect(
                self._url,
                options=(
                    "-c synchronous_commit=off -c enable_bitmapscan=off"
                    " -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=3 -c tcp_keepalives_count=3"
                ),
                row_factory=namedtuple_row,
                autocommit=True,
            )
        return self._conn

    async def _leader_connection(self) -> psycopg.AsyncConnection[Any]:
        """The connection that holds the lock; raises if it was lost (and the lock with it)."""
        conn = await self._connection()
        if not self.leader:
            raise RuntimeError("the outbox connection was lost: this relay is no longer the leader")
        return conn

    async def _disconnect(self) -> None:
        """Drop the connection (after a failure its state is unknown; the next pass reconnects)."""
        conn, self._conn = self._conn, None
        self.leader = False
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
        """Publish what is in flight and what was committed before, then stop."""
        self._stopping.set()
        self._wake.set()
        for task in self._tasks:
            if task.get_name() == "outbox-listen":
                task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.close()

    async def lead(self) -> bool:
        """Take the lock unless this relay holds it already; a relay that cannot NOTIFYs the leader,
        which may not have heard of this process's commit."""
        if self.leader:
            return True
        conn = await self._connection()
        channel = self._tables.notify_channel
        row = await (await conn.execute(self._lead_sql, (channel, channel))).fetchone()
        self.leader = bool(row[0])  # type: ignore[index]
        if not self.leader:
            self._handed_over.clear()  # the leader reads them (this relay's NOTIFY told it)
        self._read_needed = True  # a new leader reads whatever is unsent
        return self.leader

    async def relay_once(self) -> int:
        """Publish everything unsent, if this relay is or becomes the leader, and return once the
        brokers acknowledged it and it is deleted; returns how many rows that was."""
        before = self.published
        self._read_needed = True
        try:
            if not await self.lead():
                return 0
            while await self._step() >= self._batch_size:
                pass
            await self._settle()
        except BaseException:
            await self._abandon()
            raise
        return self.published - before

    async def _step(self) -> int:
        """Send what was handed over, or read and send the next batch when a read is needed; delete
        the acknowledged batches. Returns how many rows were read. Waits for the oldest batch first when
        `max_in_flight` are already out."""
        if len(self._in_flight) >= self._max_in_flight:
            await asyncio.wait([self._in_flight[0].acked])
        if self._read_needed or self._resume_after or self._conn is None or self._conn.closed:
            return await self._read_step()  # (a lost connection: the read finds out about the lock)
        handed, self._handed_over = self._handed_over, []
        records = [record for record in handed if record.id not in self._recent]
        acked = self._acknowledged()
        if records:
            self._in_flight.append(_InFlight(self._remember(records), await self._send(records)))
        if acked:
            await self._delete_sent(await self._leader_connection(), acked)
            self.published += len(acked)
        return 0

    def _remember(self, rows: Sequence[Any]) -> list[int]:
        """The ids of `rows`, now also among the recently sent ones."""
        ids = [row.id for row in rows]
        recent = self._recent
        recent.update(dict.fromkeys(ids))
        for oldest in list(itertools.islice(recent, max(0, len(recent) - RECENT_IDS))):
            del recent[oldest]
        return ids

    async def _read_step(self) -> int:
        """One round trip: delete the acknowledged batches, read the next batch; then hand it to the
        producer. Rows handed over before the read began are committed, so the read finds them."""
        self._read_needed = False
        self._handed_over.clear()
        acked = self._acknowledged()
        # Reading after the last batch while draining, or from the start but skipping what is in
        # flight: the rows read are never ones already handed to the producer.
        skip = [] if self._resume_after else [i for batch in self._in_flight for i in batch.ids]
        conn = await self._leader_connection()
        async with conn.pipeline():
            if acked:
                await self._delete_sent(conn, acked)
            cursor = await conn.execute(self._batch_sql, (self._resume_after, skip, self._batch_size))
            rows: Sequence[Any] = await cursor.fetchall()
        self.published += len(acked)
        fresh = [row for row in rows if row.id not in self._recent]
        if fresh:
            self._in_flight.append(_InFlight(self._remember(fresh), await self._send(fresh)))
        self._resume_after = rows[-1].id if len(rows) >= self._batch_size else 0
        if self._resume_after:
            self._handed_over.clear()  # draining: the next reads find them in order
        return len(rows)

    def _acknowledged(self) -> list[int]:
        """The ids of the leading batches the brokers acknowledged, taken off the in-flight queue. A
        failed acknowledgement raises (the caller abandons what is in flight: see `_abandon`)."""
        ids: list[int] = []
        while self._in_flight and self._in_flight[0].acked.done():
            batch = self._in_flight.popleft()
            batch.acked.result()
            ids.extend(batch.ids)
        return ids

    async def _settle(self) -> None:
        """Wait for every batch in flight and delete its rows."""
        if self._in_flight:
            await asyncio.wait([batch.acked for batch in self._in_flight])
        acked = self._acknowledged()
        if acked:
            await self._delete_sent(await self._connection(), acked)
            self.published += len(acked)

    async def _abandon(self) -> None:
        """After a failure: wait for what is in flight to end either way and forget it, undeleted, so it
        is read and published again in order (a later batch deleted while an earlier one failed
        would put the earlier one's repeat after it); then reconnect at the next pass."""
        in_flight, self._in_flight = list(self._in_flight), deque()
        self._resume_after = 0
        self._read_needed = True
        self._handed_over.clear()
        self._recent.clear()  # what was in flight may not have arrived: it is read and sent again
        await asyncio.gather(*(batch.acked for batch in in_flight), return_exceptions=True)
        await self._disconnect()

    def _build_statements(self) -> None:
        """The relay's statements (SQL text; psycopg prepares each after a few uses)."""
        table = f'"{self._tables.schema}"."outbox"'
        # headers as text: a batch usually repeats a few header sets, each decoded once
        self._batch_sql = (
            f"SELECT id, topic, key, value, headers::text AS headers FROM {table}"
            " WHERE sent_at IS NULL AND id > %s AND id <> ALL(%b::bigint[]) ORDER BY id LIMIT %s"
        )
        # session-scoped, never waits; a relay that does not get it wakes the one that has it
        self._lead_sql = (
            "SELECT got, CASE WHEN NOT got THEN pg_notify(%s, '') END"
            " FROM (SELECT pg_try_advisory_lock(hashtext(%s)) AS got) AS attempt"
        )
        self._release_sql = "SELECT pg_advisory_unlock(hashtext(%s)), pg_notify(%s, %s)"
        # one array parameter, not a bound parameter per id (a 1,000-row IN list is slow to bind)
        self._delete_sql = f"DELETE FROM {table} WHERE id = ANY(%b::bigint[])"

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

    async def _delete_sent(self, conn: psycopg.AsyncConnection[Any], ids: list[int]) -> None:
        await conn.execute(self._delete_sql, (ids,))

    async def purge_sent(self) -> int:
        """Delete rows an earlier Latchkey version marked sent (`sent_at`) and kept for an hour."""
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
        while not self._stopping.is_set():
            self._wake.clear()
            read = 0
            try:
                if await self.lead():
                    read = await self._step()
                    if loop.time() - last_purge > 60:
                        last_purge = loop.time()
                        await self.purge_sent()
                failures = 0
            except Exception as exc:  # Kafka or PostgreSQL unavailable: back off, the rows wait
                await self._abandon()
                failures += 1
                delay = min(30.0, 0.2 * 2**failures) * random.random()
                log.warning("outbox relay failed, retrying", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            if read < self._batch_size:  # a full batch means more are waiting: read on at once
                await self._idle()
        # Stopping: publish what is in flight and what was committed before the stop (a relay that is
        # not the leader has told the leader, which publishes it).
        try:
            await self.relay_once()
        except Exception as exc:
            log.warning("outbox relay stopped with rows unsent; they are published later", error=str(exc))

    async def _idle(self) -> None:
        """Wait for a commit, for the oldest batch in flight to be acknowledged (to delete its rows), or
        for the poll interval (commits of processes that cannot NOTIFY; a lost leader's lock)."""
        woken = asyncio.ensure_future(self._wake.wait())
        waits: list[asyncio.Future[Any]] = [woken]
        if self._in_flight:
            waits.append(self._in_flight[0].acked)
        try:
            done, _ = await asyncio.wait(
                waits, timeout=self._poll_interval, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            woken.cancel()
        if not done:
            self._read_needed = True  # the poll: commits no one told this relay of, a lost lock

    async def _listen(self) -> None:
        """LISTEN for commits made by other processes (other replicas, tools): the leader publishes
        them at once; the others only listen for a leader letting go of the lock."""
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._url, autocommit=True) as conn:
                    await conn.execute(f'LISTEN "{self._tables.notify_channel}"')
                    async for notice in conn.notifies():
                        if self.leader or notice.payload == RELEASED:
                            self.wake()  # another process committed: read what it wrote
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
