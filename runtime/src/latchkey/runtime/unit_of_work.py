"""One database transaction that commits a state change, the inbox marks of the events that caused
it and the events it raised (to the outbox), together or not at all."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.propagate import inject
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from latchkey.contracts import Event, Topic

from . import tracing
from .db import (
    Read,
    ServiceTables,
    begin_with_first_read,
    copy_binary,
    driver_connection,
    end_own_begin,
    owns_begin,
    read_one,
)
from .outbox import OutboxRecord
from .settings import ServiceSettings

E = TypeVar("E", bound=Event)
# An outbox row in binary COPY format: topic, key (None: no key), value (None: tombstone), headers (jsonb)
OutboxRow = tuple[bytes, bytes | None, bytes | None, bytes]
_NO_HEADERS = b"\x01{}"
ROWS_SENT_WITH_COMMIT = 2000
"""Up to this many outbox rows (emitted one by one) are inserted in the commit's round trip; more, or a
streamed `emit_many`, go by COPY first."""


def _jsonb(headers: dict[str, str]) -> bytes:
    """jsonb's binary wire format: a version byte, then the JSON text."""
    return b"\x01" + json.dumps(headers).encode() if headers else _NO_HEADERS


class UnitOfWork:
    """`async with UnitOfWork(...) as uow:` then `uow.session`, `await uow.fresh(...)`,
    `uow.emit(topic, event)` / `uow.emit_many(topic, events)`; leaving the block commits (or rolls
    back on an exception).

    `on_commit` (the process's relay: `OutboxRelay.committed`) is called after a commit that wrote
    outbox rows, with those rows and their ids, or with `None` when they were COPYed (no ids come
    back); without it, the commit NOTIFYs the services' relays."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: ServiceTables,
        settings: ServiceSettings,
        on_commit: Callable[[list[OutboxRecord] | None], None] | None = None,
    ) -> None:
        self._on_commit = on_commit
        self._sessions = sessions
        self._tables = tables
        self._settings = settings
        # outbox rows in emit order: lists filled by emit(), lazy iterables from emit_many()
        self._pending: list[Iterable[OutboxRow]] = []
        self._writes: list[tuple[str, Any]] = []  # statements sent with the COMMIT (`write_at_commit`)
        self._headers_of: tuple[object, dict[str, str]] | None = None
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        begin_with_first_read(self.session)  # BEGIN shares the first reads' round trip
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                await end_own_begin(self.session)
                await self.session.rollback()
        finally:
            await end_own_begin(self.session)  # a failed commit: rolled back here
            await self.session.close()

    async def fresh(self, consumer: str, events: Iterable[E]) -> list[E]:
        """The events `consumer` has not processed before (each once, in order), now marked processed."""
        return await read_one(self.session, self.inbox(consumer, events))

    def inbox(self, consumer: str, events: Iterable[E]) -> Read[list[E]]:
        """`fresh` as a `Read`, to share a round trip with the handler's own reads (`read_together`)."""
        unique = list({event.event_id: event for event in events}.values())

        def decode(rows: list[Any]) -> list[E]:
            new = {row.event_id for row in rows}
            return [event for event in unique if event.event_id in new]

        params = {"consumer": consumer, "event_ids": [event.event_id for event in unique]}
        return Read(self._tables.mark_processed, params, decode)

    def write_at_commit(self, sql: str, params: Any) -> None:
        """Run `sql` when the unit commits, in the same round trip as the outbox rows and the COMMIT
        (in call order). An error fails the commit: nothing is written."""
        self._writes.append((sql, params))

    def emit(
        self, topic: Topic, event: Event, *, key: str | None = None, topic_name: str | None = None
    ) -> None:
        """Queue `event` for `topic`; it is written to the outbox on commit and relayed in order."""
        row_key = key if key is not None else topic.key_of(event)
        self._append(
            (
                (topic_name or self._settings.topic(topic.name)).encode(),
                row_key.encode(),
                event.model_dump_json().encode(),
                _jsonb(self._trace_headers(event)),
            )
        )

    def emit_many(self, topic: Topic, events: Iterable[Event], *, topic_name: str | None = None) -> None:
        """Queue many events for `topic` (a bulk sync: 100k+), after everything emitted so far.

        `events` is consumed at commit, while the outbox COPY streams: events are built and encoded
        one at a time, never all held at once. Keys and trace headers follow `emit`'s rules; events
        with the same cause and correlation share one trace header (encoded once)."""
        name = (topic_name or self._settings.topic(topic.name)).encode()
        headers: dict[tuple[uuid.UUID | None, str | None], bytes] = {}

        def rows() -> Iterator[OutboxRow]:
            for event in events:
                trace = (event.causation_id, event.correlation_id)
                encoded = headers.get(trace)
                if encoded is None:
                    encoded = headers[trace] = _jsonb(self._trace_headers(event))
                yield name, topic.key_of(event).encode(), event.model_dump_json().encode(), encoded

        self._pending.append(rows())

    def _append(self, row: OutboxRow) -> None:
        last = self._pending[-1] if self._pending else None
        if isinstance(last, list):
            last.append(row)
        else:
            self._pending.append([row])

    def _trace_headers(self, event: Event) -> dict[str, str]:
        """W3C traceparent for `event`, so the trace continues after the relay (see `tracing`).

        Under an active span, a handler emits many events in one context: propagate once per
        OpenTelemetry context (an immutable value, so the same object means the same headers)."""
        found = tracing.cause_headers(event) or tracing.derived_headers(event)
        if found or not tracing.in_span():
            return found
        current = otel_context.get_current()
        if self._headers_of is None or self._headers_of[0] is not current:
            headers: dict[str, str] = {}
            inject(headers, context=current)
            self._headers_of = (current, headers)
        return dict(self._headers_of[1])

    def emit_tombstone(self, topic: Topic, key: str) -> None:
        """Queue a tombstone (null value) for `key` on a compacted topic."""
        self._append((self._settings.topic(topic.name).encode(), key.encode(), None, _NO_HEADERS))

    async def _write_outbox(self) -> int:
        """COPY the pending rows into the outbox: one binary COPY whatever the batch size, rows numbered
        (`id`) in emit order, and none of an executemany's per-row parameter handling in Python."""
        written = 0

        def rows() -> Iterator[OutboxRow]:
            nonlocal written
            for segment in self._pending:
                for row in segment:
                    written += 1
                    yield row

        outbox = self._tables.outbox
        await copy_binary(
            self.session, f'"{outbox.schema}"."{outbox.name}" (topic, key, value, headers)', rows(), 4
        )
        return written

    async def commit(self) -> None:
        """Write the outbox and commit, in one round trip: the statements queued with
        `write_at_commit`, the outbox rows (one INSERT from arrays) and COMMIT are pipelined. A streamed
        `emit_many` or more than `ROWS_SENT_WITH_COMMIT` rows are COPYed first."""
        written = 0
        by_copy = any(not isinstance(segment, list) for segment in self._pending) or (
            sum(len(segment) for segment in self._pending if isinstance(segment, list))
            > ROWS_SENT_WITH_COMMIT
        )
        if by_copy:
            written = await self._write_outbox()
            self._pending = []
        rows = [row for segment in self._pending for row in segment]
        self._pending = []
        written += len(rows)
        notify = written > 0 and self._on_commit is None
        inserted = None
        arrays = _outbox_arrays(rows)
        if self._writes or rows or notify or owns_begin(self.session):
            raw = await driver_connection(self.session)
            async with raw.pipeline():
                for sql, params in self._writes:
                    await raw.execute(sql, params)
                self._writes = []
                if rows:
                    inserted = await raw.execute(
                        self._tables.insert_outbox_returning_ids
                        if self._on_commit is not None
                        else self._tables.insert_outbox,
                        arrays,
                    )
                if notify:
                    # No relay in this process (a tool, a one-shot run): wake the services' relays,
                    # which LISTEN. A service's own relay is woken directly, one round trip cheaper.
                    await raw.execute("SELECT pg_notify(%s, '')", (self._tables.notify_channel,))
                # Committed here, in the pipeline; the session's commit below then only ends its own
                # bookkeeping (psycopg sees no transaction left and sends nothing).
                await raw.execute("COMMIT")
            if inserted is not None and self._on_commit is not None:
                # Handed over as soon as the COMMIT is answered, before anything else can commit in
                # this process: the relay then sends the process's commits in the order they were made.
                ids = sorted(row[0] for row in await inserted.fetchall())
                self._on_commit(_records(ids, arrays))
        await end_own_begin(self.session)
        await self.session.commit()
        if by_copy and written and self._on_commit is not None:
            self._on_commit(None)  # COPYed: no ids came back, the relay reads them


def _records(ids: list[int], arrays: dict[str, list[Any]]) -> list[OutboxRecord]:
    """The committed rows as the relay sends them, from the INSERT's parameters (`_outbox_arrays`),
    which it numbered in array order."""
    columns = (arrays["topic"], arrays["key"], arrays["value"], arrays["headers"])
    return [OutboxRecord(*row) for row in zip(ids, *columns, strict=True)]


def _outbox_arrays(rows: list[OutboxRow]) -> dict[str, list[Any]]:
    """Outbox rows as the parameters of `ServiceTables.insert_outbox` (one array per column)."""
    return {
        "topic": [row[0].decode() for row in rows],
        "key": [None if row[1] is None else row[1].decode() for row in rows],
        "value": [row[2] for row in rows],
        "headers": [row[3][1:].decode() for row in rows],  # jsonb's binary form: a version byte + text
    }
