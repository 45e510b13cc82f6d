"""A flow-engine running in-process against the real broker and server, a test IdP, and a client that
publishes what frontends, identity-sync, connectors and expiry would, and collects what comes out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from latchkey.contracts import (
    FLOWS,
    GROUPS,
    INVENTORY,
    LIFECYCLE,
    REQUESTS,
    USERS,
    AccessFlowUpserted,
    Event,
    GroupUpserted,
    ResourceDiscovered,
    Topic,
    UserUpserted,
    connector_commands,
)
from latchkey.flow_engine.app import FlowEngine, flow_digest
from latchkey.flow_engine.domain.documents import parse_flows
from latchkey.flow_engine.settings import FlowEngineSettings
from latchkey.flow_engine.store import FlowEngineStore
from latchkey.runtime import ServiceSettings
from latchkey.runtime.kafka import ensure_topics
from latchkey.runtime.signing import generate_private_key
from latchkey.runtime.testing import (
    create_database,
    drop_database,
    safe_database_name,
    sqlalchemy_url,
    unique_prefix,
)
from latchkey.runtime.testing.oidc import TestIssuer

CONNECTOR = "conn-1"


@pytest.fixture(scope="session")
def idp() -> Iterator[TestIssuer]:
    with TestIssuer() as issuer:
        yield issuer


@pytest.fixture(scope="session")
def signing_key() -> str:
    return generate_private_key()


class Bus:
    """Publishes events into the engine's topics and records everything on the output topics."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
        self.records: dict[str, list[dict[str, Any]]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, topics: list[Topic]) -> None:
        await ensure_topics(ServiceSettings(kafka_bootstrap=self.bootstrap, topic_prefix=self.prefix), topics)
        await self.producer.start()
        self._consumer = AIOKafkaConsumer(
            *[self.prefix + t.name for t in topics],
            bootstrap_servers=self.bootstrap,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        assert self._consumer is not None
        async for record in self._consumer:
            name = record.topic.removeprefix(self.prefix)
            try:
                value = json.loads(record.value) if record.value is not None else None
            except ValueError:
                value = {"raw": record.value}  # poison a test published on purpose
            self.records.setdefault(name, []).append(value)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        if self._consumer:
            await self._consumer.stop()
        await self.producer.stop()

    async def publish(self, topic: Topic, event: Event) -> None:
        await self.producer.send_and_wait(
            self.prefix + topic.name, event.model_dump_json().encode(), key=topic.key_of(event).encode()
        )

    async def publish_raw(self, topic: Topic, value: bytes | None, key: str) -> None:
        await self.producer.send_and_wait(self.prefix + topic.name, value, key=key.encode())

    def lifecycle(self, request_id: str) -> list[dict[str, Any]]:
        return [r for r in self.records.get(LIFECYCLE.name, []) if r and r.get("request_id") == request_id]

    def types(self, request_id: str) -> list[str]:
        return [r["type"] for r in self.lifecycle(request_id)]

    def commands(self, request_id: str, connector: str = CONNECTOR) -> list[dict[str, Any]]:
        name = connector_commands(connector).name
        return [r for r in self.records.get(name, []) if r and r.get("grant_id") == request_id]

    async def wait_for(self, check: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = check()
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; lifecycle so far: {self.records.get(LIFECYCLE.name)}"
                )
            await asyncio.sleep(0.05)

    async def wait_commands(self, request_id: str, count: int) -> list[dict[str, Any]]:
        """The request's commands once `count` arrived (commands and lifecycle are separate topics)."""
        await self.wait_for(lambda: len(self.commands(request_id)) >= count, what=f"{count} commands")
        return self.commands(request_id)

    async def wait_types(self, request_id: str, *types: str, timeout: float = 15.0) -> list[dict[str, Any]]:
        await self.wait_for(
            lambda: all(t in self.types(request_id) for t in types), timeout, f"{types} for {request_id}"
        )
        return self.lifecycle(request_id)


def engine_settings(
    bootstrap: str, database_url: str, prefix: str, idp: TestIssuer, key: str, **extra: Any
) -> FlowEngineSettings:
    return FlowEngineSettings(
        kafka_bootstrap=bootstrap,
        database_url=database_url,
        topic_prefix=prefix,
        health_port=0,
        signing_key=key,
        oidc_issuer=idp.issuer,
        oidc_audience="latchkey",
        log_json=False,
        log_level="WARNING",
        consumer_batch_timeout_ms=5,
        **extra,
    )


PEOPLE = {
    # user_id: (email, manager)
    "u-alice": ("alice@example.com", "u-mgr"),
    "u-bob": ("bob@example.com", "u-mgr"),
    "u-dba": ("dba@example.com", None),
    "u-mgr": ("mgr@example.com", None),
    "u-admin": ("admin@example.com", None),
    "u-carol": ("carol@example.com", "u-mgr"),
    "u-dave": ("dave@example.com", "u-mgr"),
}
GROUP_MEMBERS = {
    "g-eng": ("engineering", ["u-alice", "u-bob", "u-carol", "u-dave", "u-dba"]),
    "g-dba": ("db-admins", ["u-dba", "u-alice"]),
    "g-admin": ("admins", ["u-admin"]),
}


async def seed(
    bus: Bus, engine: FlowEngine | tuple[AsyncEngine, FlowEngineStore], flow_files: list[str]
) -> None:
    """Identity, inventory and flows, as identity-sync, a connector and `latchkey-flows apply` publish."""
    for user_id, (email, manager) in PEOPLE.items():
        await bus.publish(USERS, UserUpserted(user_id=user_id, email=email, manager_id=manager))
    for group_id, (name, members) in GROUP_MEMBERS.items():
        await bus.publish(GROUPS, GroupUpserted(group_id=group_id, name=name, member_ids=members))
    for resource_id, tags in (("orders-db", {"env": "prod"}), ("billing-db", {"env": "prod"})):
        await bus.publish(
            INVENTORY,
            ResourceDiscovered(
                connector_id=CONNECTOR,
                integration_id="pg-prod",
                integration_type="postgresql",
                resource_id=resource_id,
                resource_type="database",
                name=resource_id,
                permissions=["readonly", "readwrite"],
                owner_ids=["u-dba"],
                tags=tags,
            ),
        )
    names = []
    for text in flow_files:
        flows, errors = parse_flows(text)
        assert not errors, errors
        for loaded in flows:
            document = loaded.flow.document()
            names.append(loaded.flow.name)
            await bus.publish(
                FLOWS, AccessFlowUpserted(name=loaded.flow.name, spec=document, digest=flow_digest(document))
            )
    database, store = (engine.service.engine, engine.store) if isinstance(engine, FlowEngine) else engine

    async def loaded() -> bool:
        async with database.connect() as conn:
            users = await conn.scalar(sa.select(sa.func.count()).select_from(store.users))
            members = await conn.scalar(sa.select(sa.func.count()).select_from(store.members))
            resources = await conn.scalar(sa.select(sa.func.count()).select_from(store.resources))
            flows = await conn.scalar(sa.select(sa.func.count()).select_from(store.flows))
        return (users, members, resources, flows) == (len(PEOPLE), 8, 2, len(names))

    deadline = asyncio.get_running_loop().time() + 30
    while not await loaded():
        assert asyncio.get_running_loop().time() < deadline, "read models were not loaded"
        await asyncio.sleep(0.1)


TEST_FLOWS = """
apiVersion: latchkey/v1
kind: AccessFlow
metadata: {name: orders-readonly}
spec:
  requesters: {groups: [engineering]}
  access: {integration: pg-prod, resources: [{name: "orders*"}], permissions: [readonly]}
  approval: {automatic: true}
  defaultDuration: 1h
  maxDuration: 2h
  extension: {allowed: true, maxTotal: 30m}
  credentials: {rotateAfterRevoke: true}
---
apiVersion: latchkey/v1
kind: AccessFlow
metadata: {name: orders-readwrite}
spec:
  requesters: {groups: [engineering]}
  access: {integration: pg-prod, resources: [{name: "orders*", tags: {env: prod}}], permissions: [readwrite]}
  approval:
    timeout: 1h
    steps:
      - anyOf: [{group: db-admins}]
      - allOf: [{manager: true}]
  justification: required
  defaultDuration: 30m
  maxDuration: 1h
  extension: {allowed: true, maxTotal: 30m, requiresApproval: true}
"""


@pytest.fixture(scope="module")
async def running(infra: Any, idp: TestIssuer, signing_key: str) -> AsyncIterator[tuple[FlowEngine, Bus]]:
    """One engine per test module (own database and topic prefix); tests use distinct request ids."""
    prefix = unique_prefix()
    name = safe_database_name("flow_engine")
    url = sqlalchemy_url(create_database(infra.admin_database_url, name))
    settings = engine_settings(infra.kafka_bootstrap, url, prefix, idp, signing_key, admin_groups=["admins"])
    engine = FlowEngine(settings, configure_process=False)
    await engine.service.app.start()
    bus = Bus(infra.kafka_bootstrap, prefix)
    await bus.start([LIFECYCLE, connector_commands(CONNECTOR), REQUESTS])
    try:
        await seed(bus, engine, [TEST_FLOWS])
        yield engine, bus
    finally:
        await bus.stop()
        await engine.service.app.stop()
        drop_database(infra.admin_database_url, name)
