"""Test harness for identity-sync: run syncs against fakes and read what was published."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition

from latchkey.contracts import GROUPS, USERS, Event, GroupUpserted, Topic, UserUpserted
from latchkey.identity_sync.providers.base import IdentityProvider
from latchkey.identity_sync.settings import IdentitySyncSettings
from latchkey.identity_sync.store import SCHEMA
from latchkey.identity_sync.sync import SyncEngine
from latchkey.identity_sync.testing.population import Population
from latchkey.runtime import Service


@dataclass
class Published:
    topic: str
    key: str
    event: Event | None  # None: tombstone
    raw: bytes | None = None

    @property
    def type(self) -> str:
        return "tombstone" if self.event is None else self.event.type


class TopicReader:
    """Reads what was appended to the identity topics since the previous call, to the end offsets."""

    def __init__(self, bootstrap: str, settings: IdentitySyncSettings) -> None:
        self._bootstrap = bootstrap
        self._topics: dict[str, Topic] = {settings.topic(t.name): t for t in (USERS, GROUPS)}
        self._positions: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await self._consumer.start()
        partitions = [
            TopicPartition(name, p)
            for name in self._topics
            for p in sorted(self._consumer.partitions_for_topic(name) or {0, 1, 2})
        ]
        self._consumer.assign(partitions)
        for tp in partitions:
            self._positions[tp] = 0

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def new(self) -> list[Published]:
        consumer = self._consumer
        assert consumer is not None
        ends = await consumer.end_offsets(list(self._positions))
        out: list[Published] = []
        for tp, start in self._positions.items():
            if ends[tp] <= start:
                continue
            consumer.seek(tp, start)
            while True:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                for record in batch.get(tp, []):
                    if record.offset >= ends[tp]:
                        break
                    topic = self._topics[tp.topic]
                    event = topic.parse(record.value) if record.value is not None else None
                    out.append(Published(tp.topic, record.key.decode(), event, record.value))
                if await consumer.position(tp) >= ends[tp] or not batch:
                    break
            self._positions[tp] = ends[tp]
        out.sort(key=lambda p: (p.event.occurred_at.isoformat() if p.event else "~", p.topic))
        return out


@dataclass
class Harness:
    settings: IdentitySyncSettings
    service: Service
    reader: TopicReader

    def engine(self, provider: IdentityProvider) -> SyncEngine:
        return SyncEngine(provider, self.service.unit_of_work, producer="identity-sync")

    async def drain_outbox(self, timeout: float = 30.0) -> None:
        """Wait until the relay has published everything committed so far."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.service.engine.connect() as conn:
                unsent = await conn.scalar(
                    sa.text(f'SELECT count(*) FROM "{SCHEMA}".outbox WHERE sent_at IS NULL')
                )
            if unsent == 0:
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{unsent} outbox rows not relayed")
            await asyncio.sleep(0.05)

    async def sync(self, provider: IdentityProvider, mode: Any = "full") -> list[Published]:
        """One run, relayed; returns exactly what it published."""
        await self.engine(provider).run(mode)
        await self.drain_outbox()
        return await self.reader.new()

    async def dump_tables(self) -> str:
        """Every row of every identity-sync table, as text (for the personal-data test)."""
        async with self.service.engine.connect() as conn:
            tables = (
                await conn.execute(
                    sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                    {"s": SCHEMA},
                )
            ).scalars()
            text: list[str] = []
            for table in list(tables):
                rows = await conn.execute(sa.text(f'SELECT * FROM "{SCHEMA}"."{table}"'))
                text.extend(repr(tuple(row)) for row in rows)
        return "\n".join(text)


def by_type(published: list[Published]) -> dict[str, list[str]]:
    """{event type: sorted keys} — the shape most assertions compare against."""
    out: dict[str, list[str]] = {}
    for item in published:
        out.setdefault(item.type, []).append(item.key)
    return {k: sorted(v) for k, v in out.items()}


def assert_matches_population(published: list[Published], population: Population, *, nested: bool) -> None:
    users = {p.key: p.event for p in published if isinstance(p.event, UserUpserted)}
    groups = {p.key: p.event for p in published if isinstance(p.event, GroupUpserted)}
    assert len(published) == len(users) + len(groups), "only upserts on a first sync"
    assert users.keys() == {u.id for u in population.live_users()}
    for user in population.live_users():
        event = users[user.id]
        manager = population.users[user.manager].id if user.manager is not None else None
        assert (event.email, event.active, event.manager_id) == (user.email, user.active, manager)
    assert groups.keys() == {g.id for g in population.live_groups()}
    for group in population.live_groups():
        assert groups[group.id].name == group.name
        assert set(groups[group.id].member_ids) == population.flattened_members(group, nested=nested)
