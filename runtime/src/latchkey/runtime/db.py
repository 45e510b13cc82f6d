"""Async SQLAlchemy engine and sessions, and the tables every service with a database shares:
the transactional outbox and the idempotent inbox, created in the service's own schema."""

from __future__ import annotations

import contextlib
import functools
import json
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.dialects.postgresql.psycopg import PGDialectAsync_psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def database_location(url: str) -> str:
    """host:port/database of a database URL, for messages: never its user or password."""
    parsed = make_url(url)
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


def make_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An async engine (psycopg 3).

    Connections are not pinged before each use: the ping is one more round trip per transaction (a
    tenth of a small handler transaction's database time). After a server restart the first statement
    on a stale connection fails instead; SQLAlchemy then discards the whole pool, and every caller
    treats the error as transient and retries (consumers redeliver the batch, loops back off).

    The server probes each session's client (TCP keepalives: ~20 s) and ends a transaction left
    idle for `IDLE_IN_TRANSACTION`: a replica whose host died or was cut off between claiming rows
    (due timers, requests) and its COMMIT would otherwise hold their locks until the kernel gives up
    on the socket, about two hours, and the other replicas skip or wait on those rows meanwhile."""
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=5,
        pool_pre_ping=False,
        connect_args={"options": SESSION_OPTIONS},
    )


IDLE_IN_TRANSACTION = "60s"
SESSION_OPTIONS = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=3 -c tcp_keepalives_count=3"
    f" -c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION}"
)
"""Settings of every service session (see `make_engine`)."""


def make_sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    """Events waiting to be relayed to Kafka, in commit order (`id`)."""
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("topic", sa.Text, nullable=False),
        sa.Column("key", sa.Text, nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=True, comment="JSON bytes; NULL is a tombstone"),
        sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Index("outbox_unsent", "id", postgresql_where=sa.text("sent_at IS NULL")),
    )


def inbox_table(metadata: sa.MetaData) -> sa.Table:
    """Events already processed by a consumer, written in the same transaction as their effect."""
    return sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.Text, primary_key=True),
        sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )


class ServiceTables:
    """The outbox and inbox of one service schema."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.metadata = sa.MetaData(schema=schema)
        self.outbox = outbox_table(self.metadata)
        self.inbox = inbox_table(self.metadata)

    @property
    def notify_channel(self) -> str:
        return f"latchkey_outbox_{self.schema}"

    @functools.cached_property
    def insert_outbox(self) -> str:
        """Outbox rows from one array per column (`topic`, `key`, `value`, `headers`: the parameter
        names), numbered (`id`) in array order."""
        return insert_from_arrays(self.outbox, ("topic", "key", "value", "headers"))

    @functools.cached_property
    def insert_outbox_returning_ids(self) -> str:
        """`insert_outbox`, returning the new rows' ids (for the relay: `OutboxRelay.committed`)."""
        return insert_from_arrays(self.outbox, ("topic", "key", "value", "headers"), " RETURNING id")

    @functools.cached_property
    def mark_processed(self) -> Compiled:
        """`INSERT INTO inbox … ON CONFLICT DO NOTHING RETURNING event_id` for parameters `consumer` and
        `event_ids` (one uuid[]). Compiled once (`Compiled`): it runs for every batch of every consumer."""
        marked = sa.select(
            sa.bindparam("consumer", type_=sa.Text),
            sa.func.unnest(sa.bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True)))),
        )
        return Compiled(
            insert(self.inbox)
            .from_select(["consumer", "event_id"], marked)
            .on_conflict_do_nothing()
            .returning(self.inbox.c.event_id)
        )


_DIALECT = PGDialectAsync_psycopg()  # type: ignore[no-untyped-call]

# Array parameters are sent in PostgreSQL's binary format (psycopg's `%b`): psycopg builds a text-format
# array literal in Python, quoting and backslash-escaping every element, which for the outbox's JSON
# values cost ~27 µs per row (4.1 ms for a 150-row batch; 11 % of flow-engine's CPU samples at 900
# requests/s); the binary form is a length and the bytes (0.22 ms for the same batch). Element types
# come from the Python values and the statement casts each array to its column's type.


async def driver_connection(session: AsyncSession) -> psycopg.AsyncConnection[Any]:
    """The psycopg connection under `session`, in the session's transaction."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    if raw is None:  # pragma: no cover - only an invalidated connection has none
        raise RuntimeError("the session's database connection is closed")
    return raw  # type: ignore[no-any-return]


T = TypeVar("T")


class Compiled:
    """A statement of a hot path, compiled once to SQL text and run on the session's psycopg
    connection (by `read_together`, or queued with `UnitOfWork.write_at_commit`): SQLAlchemy's
    per-execution work (cache key, execution context, result wrapping, the greenlet hop) costs
    ~0.2 ms of CPU per statement here, more than PostgreSQL spends running these.

    The text is exactly what SQLAlchemy would send (psycopg's named parameters, with bind casts);
    rows come back as named tuples, values as psycopg loads them (jsonb parsed, timestamps aware),
    which is also what SQLAlchemy hands on for these types."""

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        compiled = statement.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
        self.sql = str(compiled)
        for name, bind in compiled.binds.items():
            if isinstance(bind.type, sa.ARRAY):
                self.sql = self.sql.replace(f"%({name})s", f"%({name})b")  # binary, see above
        # values written into the statement (a parameter the caller must give has none)
        self.defaults: dict[str, Any] = {k: v for k, v in compiled.params.items() if v is not None}

    def params(self, given: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**self.defaults, **given} if self.defaults else given


_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = b"\xff\xff"
_NULL = struct.pack("!i", -1)
_LENGTH = struct.Struct("!i")


def binary_copy_data(rows: Iterable[Sequence[bytes | None]], fields: int) -> Iterator[bytes]:
    """PostgreSQL binary COPY data for rows of fields already in binary wire format (None is NULL):
    text and bytea as their bytes, boolean as one byte, jsonb as b"\\x01" + JSON text. Yielded in
    ~1 MB chunks; packing rows here is several times cheaper than psycopg's per-row `write_row`."""
    count = struct.pack("!h", fields)
    buffer = bytearray(_COPY_SIGNATURE)
    for row in rows:
        buffer += count
        for value in row:
            if value is None:
                buffer += _NULL
            else:
                buffer += _LENGTH.pack(len(value))
                buffer += value
        if len(buffer) > 1 << 20:
            yield bytes(buffer)
            buffer.clear()
    buffer += _COPY_TRAILER
    yield bytes(buffer)


async def copy_binary(
    session: AsyncSession, target: str, rows: Iterable[Sequence[bytes | None]], fields: int
) -> None:
    """`COPY target FROM STDIN (FORMAT BINARY)` on the session's own connection, so in its transaction.
    `target` is SQL (`"schema".table (col, ...)`); `rows` are consumed as the data streams."""
    raw = await driver_connection(session)
    async with raw.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
        for chunk in binary_copy_data(rows, fields):
            await copy.write(chunk)


@dataclass(frozen=True)
class Read(Generic[T]):
    """A read for `read_together`: a compiled statement, its parameters, and how to turn its rows into
    the value the caller wants."""

    statement: Compiled
    params: Mapping[str, Any]
    decode: Callable[[list[Any]], T]


async def read_together(session: AsyncSession, *reads: Read[Any]) -> list[Any]:
    """Run `reads` in the session's transaction in ONE round trip (psycopg pipeline mode: every
    statement is sent, then every reply read); returns each read's decoded value, in order.

    Each statement still runs after the one before it, with its own snapshot (READ COMMITTED), so a
    row lock taken by one is held when the next reads. On a machine where the database competes
    for the CPU, a round trip costs far more than these statements: a handler that needs five reads
    before it can decide waits for one reply instead of five."""
    raw = await driver_connection(session)
    begin = await _take_begin(session, raw)
    cursors = []
    try:
        async with raw.pipeline():
            if begin:
                await raw.execute("BEGIN")
            for read in reads:
                cursor = raw.cursor(row_factory=namedtuple_row)
                cursors.append(cursor)
                await cursor.execute(read.statement.sql, read.statement.params(read.params))
        return [
            read.decode(await cursor.fetchall() if cursor.description is not None else [])
            for read, cursor in zip(reads, cursors, strict=True)
        ]
    finally:
        for cursor in cursors:
            await cursor.close()


# Starting a transaction in the same round trip as its first reads. psycopg begins a transaction
# implicitly before a statement, and in pipeline mode it then waits for a sync of its own: one round
# trip more per transaction (~150 µs of client CPU here, and a wake-up of the database process), on
# the path of every handler. A unit of work lets its first `read_together` send BEGIN itself: the
# connection is switched to autocommit (a flag: no I/O while idle), so psycopg sends nothing of its
# own, and BEGIN leads the pipeline. `end_own_begin` switches the flag back once the transaction has
# ended, before the connection returns to the pool.
_BEGIN_WITH_FIRST_READ = "latchkey.begin_with_first_read"
_OWN_BEGIN = "latchkey.own_begin"


def begin_with_first_read(session: AsyncSession) -> None:
    """Let the first `read_together` on `session` send the transaction's BEGIN in its round trip.
    The caller must call `end_own_begin` when the transaction is over (committed or not)."""
    session.info[_BEGIN_WITH_FIRST_READ] = True


async def _take_begin(session: AsyncSession, raw: psycopg.AsyncConnection[Any]) -> bool:
    if not session.info.pop(_BEGIN_WITH_FIRST_READ, False):
        return False
    if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE or (
        raw.isolation_level,
        raw.read_only,
        raw.deferrable,
    ) != (None, None, None):
        return False  # already begun (a statement ran first), or a BEGIN with options: psycopg's way
    await raw.set_autocommit(True)  # (already on only if an earlier reset failed: BEGIN regardless)
    session.info[_OWN_BEGIN] = raw
    return True


def owns_begin(session: AsyncSession) -> bool:
    """True while `session`'s transaction was begun by `read_together` (so must be ended by hand)."""
    return _OWN_BEGIN in session.info


async def end_own_begin(session: AsyncSession) -> None:
    """After a transaction `read_together` began: roll back what is still open (nothing after a
    COMMIT) and switch the connection back to psycopg's implicit transactions. A connection that
    cannot be brought back is invalidated, so the pool replaces it. No-op for other sessions."""
    raw: psycopg.AsyncConnection[Any] | None = session.info.pop(_OWN_BEGIN, None)
    if raw is None:
        return
    try:
        if raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            await raw.rollback()
        await raw.set_autocommit(False)
    except Exception:
        with contextlib.suppress(Exception):
            await (await session.connection()).invalidate()


async def read_one(session: AsyncSession, read: Read[T]) -> T:
    """One `Read` on its own (`read_together` with a single statement)."""
    value: T = (await read_together(session, read))[0]
    return value


def insert_from_arrays(table: sa.Table, columns: Sequence[str], suffix: str = "") -> str:
    """`INSERT INTO table (columns) SELECT … FROM unnest(one array per column) …` with named
    parameters (one per column, a list of values): any number of rows in one short statement that
    can share a round trip with others (a COPY cannot: it needs its own exchange with the server).
    Rows are inserted in list order. `suffix` is appended (e.g. an ON CONFLICT clause)."""
    names = ", ".join(f'"{c}"' for c in columns)
    arrays = ", ".join(f"%({c})b::{table.c[c].type.compile(dialect=_DIALECT)}[]" for c in columns)
    aliases = ", ".join(f"c{n}" for n in range(len(columns)))
    return (
        f'INSERT INTO "{table.schema}"."{table.name}" ({names}) SELECT {aliases} FROM unnest({arrays})'
        f" WITH ORDINALITY AS r({aliases}, n) ORDER BY n{suffix}"
    )


def array_params(
    table: sa.Table, rows: Sequence[Mapping[str, Any]], columns: Sequence[str]
) -> dict[str, list[Any]]:
    """The parameters of `insert_from_arrays`: one list per column; jsonb values as JSON text."""
    params: dict[str, list[Any]] = {}
    for column in columns:
        values = [row[column] for row in rows]
        if isinstance(table.c[column].type, JSONB):
            values = [None if v is None else json.dumps(v) for v in values]
        params[column] = values
    return params
