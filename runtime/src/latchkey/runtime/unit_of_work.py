"""One database transaction that commits a state change, the inbox marks of the events that caused
it and the events it raised (to the outbox), together or not at all."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar

import sqlalchemy as sa
from opentelemetry import context as otel_context
from opentelemetry.propagate import inject
from psycopg.types.json import Jsonb
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from latchkey.contracts import Event, Topic

from . import tracing
from .db import ServiceTables
from .settings import ServiceSettings

E = TypeVar("E", bound=Event)


class UnitOfWork:
    """`async with UnitOfWork(...) as uow:` then `uow.session`, `await uow.first_time(...)`,
    `uow.emit(topic, event)`; leaving the block commits (or rolls back on an exception)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        tables: ServiceTables,
        settings: ServiceSettings,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._on_commit = on_commit
        self._sessions = sessions
        self._tables = tables
        self._settings = settings
        self._pending: list[dict[str, Any]] = []
        self._headers_of: tuple[object, dict[str, str]] | None = None
        self.session: AsyncSession

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        await self.session.begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                await self.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()

    async def first_time(self, consumer: str, event_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        """Record `event_ids` as processed by `consumer`; returns those not seen before.

        Same transaction as the effect: if the effect rolls back, so does the mark.
        """
        ids = list(dict.fromkeys(event_ids))
        if not ids:
            return set()
        # The ids travel as one uuid[] parameter: a short statement that psycopg and PostgreSQL
        # prepare once, whatever the batch size (a multi-row VALUES is re-parsed for every batch).
        inbox = self._tables.inbox
        marked = sa.select(
            sa.literal(consumer, sa.Text), sa.func.unnest(sa.literal(ids, ARRAY(UUID(as_uuid=True))))
        )
        result = await self.session.execute(
            insert(inbox)
            .from_select(["consumer", "event_id"], marked)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        return set(result.scalars())

    async def fresh(self, consumer: str, events: Iterable[E]) -> list[E]:
        """The events `consumer` has not processed before (each once, in order), now marked processed."""
        unique = list({event.event_id: event for event in events}.values())
        new = await self.first_time(consumer, (event.event_id for event in unique))
        return [event for event in unique if event.event_id in new]

    def emit(
        self, topic: Topic, event: Event, *, key: str | None = None, topic_name: str | None = None
    ) -> None:
        """Queue `event` for `topic`; it is written to the outbox on commit and relayed in order."""
        self._pending.append(
            {
                "topic": topic_name or self._settings.topic(topic.name),
                "key": key if key is not None else topic.key_of(event),
                "value": event.model_dump_json().encode(),
                "headers": self._trace_headers(event),
            }
        )

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
        self._pending.append(
            {"topic": self._settings.topic(topic.name), "key": key, "value": None, "headers": {}}
        )

    async def _write_outbox(self) -> None:
        """COPY the pending rows into the outbox: one statement whatever the batch size, rows numbered
        (`id`) in emit order, and none of an executemany's per-row parameter handling in Python."""
        connection = await self.session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        if raw is None:  # pragma: no cover - only an invalidated connection has none
            raise RuntimeError("the unit of work's database connection is closed")
        outbox = self._tables.outbox
        statement = f'COPY "{outbox.schema}"."{outbox.name}" (topic, key, value, headers) FROM STDIN'
        async with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in self._pending:
                await copy.write_row((row["topic"], row["key"], row["value"], Jsonb(row["headers"])))

    async def commit(self) -> None:
        if self._pending:
            await self._write_outbox()
            await self.session.execute(sa.select(sa.func.pg_notify(self._tables.notify_channel, "")))
            self._pending = []
            await self.session.commit()
            if self._on_commit is not None:
                self._on_commit()
            return
        await self.session.commit()
