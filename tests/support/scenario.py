"""A running Latchkey — infrastructure + the four services as processes + the test IdP — and the
steps of the access story a person goes through (ask, get reviewed, receive credentials, lose them).

Used by the e2e, fault and security suites and by the demo (deploy/demo/run.py), so the demo shows
exactly what the tests prove.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from latchkey.contracts import (
    FLOWS,
    GROUPS,
    INVENTORY,
    LIFECYCLE,
    REQUESTS,
    RESULTS,
    TIMERS,
    USERS,
    Event,
    InventorySynced,
    RequestSubmitted,
    ResourceDiscovered,
    ReviewApproved,
    ReviewDenied,
    TimerFired,
    Topic,
    UserUpserted,
    connector_commands,
    uuid7,
)
from latchkey.contracts.audit import FINAL_TYPES
from latchkey.runtime.testing import create_database, drop_database, sqlalchemy_url, unique_prefix
from latchkey.runtime.testing.logs import log_entries
from latchkey.runtime.testing.oidc import TestIssuer

from .bus import Publisher, Record, TopicReader, create_topics, wait_service_consumed
from .processes import ServiceGroup, ServiceSpec
from .system import LatchkeySystem, Requester, access_flow, flow_event

# The people of examples/identity/directory.yaml
ALICE = ("u-alice", "alice@example.com")  # engineering, manager carol
BOB = ("u-bob", "bob@example.com")  # engineering, manager carol
CAROL = ("u-carol", "carol@example.com")  # db-admins (and engineering through nesting)
DAVE = ("u-dave", "dave@example.com")  # engineering, manager alice
ERIN = ("u-erin", "erin@example.com")  # deactivated

Step = Callable[[str, float], None]  # (what happened, seconds it took): the demo prints these


def new_traceparent() -> tuple[str, str]:
    """(traceparent header, trace id) of a new W3C trace, as a frontend would start it."""
    trace_id = secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01", trace_id


def trace_id_of(record: Record) -> str | None:
    parent = record.headers.get("traceparent")
    parts = parent.split("-") if parent else []
    return parts[1] if len(parts) == 4 else None


@dataclass
class RunningLatchkey:
    """Everything a test needs to drive and observe the system."""

    system: LatchkeySystem
    services: ServiceGroup
    issuer: TestIssuer
    publisher: Publisher
    lifecycle: TopicReader
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return self.system.kafka_bootstrap

    @property
    def prefix(self) -> str:
        return self.system.topic_prefix

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def resource(self) -> str:
        """The schema the PostgreSQL templates grant on (`schema:<appdb>.public`)."""
        assert self.system.target is not None
        return f"schema:{self.system.target.name}.public"

    def token(self, who: tuple[str, str], **kw: Any) -> str:
        return self.issuer.mint(who[0], who[1], **kw)

    async def submit(
        self,
        who: tuple[str, str],
        requester: Requester | None = None,
        *,
        permission: str = "readonly",
        integration_id: str | None = None,
        resource: str | None = None,
        duration_seconds: int | None = 20,
        justification: str | None = "investigating order #4711 for support ticket",
        id_token: str | None = None,
        request_id: str | None = None,
        traceparent: str | None = None,
    ) -> str:
        request_id = request_id or str(uuid7())
        event = RequestSubmitted(
            request_id=request_id,
            id_token=id_token or self.token(who),
            integration_id=integration_id or self.system.integration_id,
            resource=resource or self.resource,
            permission=permission,
            duration_seconds=duration_seconds,
            justification=justification,
            requester_public_key=requester.public_key if requester else None,
            producer="tests",
            correlation_id=request_id,
        )
        await self.publisher.publish(
            REQUESTS, event, headers={"traceparent": traceparent} if traceparent else None
        )
        return request_id

    async def approve(
        self, request_id: str, who: tuple[str, str], reason: str = "ok", token: str | None = None
    ) -> None:
        await self.publisher.publish(
            REQUESTS,
            ReviewApproved(
                request_id=request_id,
                id_token=token or self.token(who),
                reason=reason,
                producer="tests",
                correlation_id=request_id,
            ),
        )

    async def deny(self, request_id: str, who: tuple[str, str], reason: str = "no") -> None:
        await self.publisher.publish(
            REQUESTS,
            ReviewDenied(
                request_id=request_id,
                id_token=self.token(who),
                reason=reason,
                producer="tests",
                correlation_id=request_id,
            ),
        )

    async def wait_lifecycle(
        self, request_id: str, predicate: Callable[[list[str]], bool], timeout: float, what: str
    ) -> list[Event]:
        """Read the lifecycle topic until the types of `request_id`'s events satisfy `predicate`."""

        def done(records: list[Record]) -> bool:
            return predicate([r.type or "" for r in records if r.key == request_id])

        try:
            await self.lifecycle.wait_for(done, timeout, what)
        except TimeoutError as exc:
            raise AssertionError(
                f"{exc}\nlifecycle of {request_id}: {self.lifecycle.types(request_id)}\n"
                f"{self.services.describe_failure()}"
            ) from None
        return self.lifecycle.events(request_id)

    async def wait_for_type(self, request_id: str, event_type: str, timeout: float) -> Event:
        events = await self.wait_lifecycle(
            request_id,
            lambda types: event_type in types or bool(FINAL_TYPES & set(types) - {event_type}),
            timeout,
            f"{event_type} for {request_id}",
        )
        found = [e for e in events if e.type == event_type]
        assert found, f"{request_id} ended without {event_type}: " + "; ".join(
            f"{e.type}{' (' + str(getattr(e, 'reason', '')) + ')' if getattr(e, 'reason', None) else ''}"
            for e in events
        )
        return found[0]

    def records_of(self, request_id: str) -> list[Record]:
        return [r for r in self.lifecycle.records if r.key == request_id]

    async def timer_fired(self, request_id: str, kind: str, timeout: float) -> Record:
        """The first `timer.fired` of `kind` for `request_id` on the timers topic (read from the start)."""

        def fired(record: Record) -> bool:
            event = record.event
            return isinstance(event, TimerFired) and event.request_id == request_id and event.kind == kind

        async with TopicReader(self.bootstrap, self.topic(TIMERS.name), TIMERS) as timers:
            records = await timers.wait_for(lambda rs: any(map(fired, rs)), timeout, f"{kind} fired")
        return next(r for r in records if fired(r))

    def log_lines_between(self, start: datetime, end: datetime) -> str:
        """Every service's log lines stamped within [start, end] (JSON logs), for a failure message."""
        lines = [
            (stamp, f"{name}: {json.dumps(entry)}")
            for name, text in self.services.logs().items()
            for stamp, entry in log_entries(text)
            if start <= stamp <= end
        ]
        return "\n".join(line for _, line in sorted(lines)) or "(no service logged anything then)"


def directory_people(path: Path) -> list[str]:
    """The active users of a file-provider directory (deactivated ones are published differently)."""
    return [u["id"] for u in yaml.safe_load(path.read_text())["users"] if u.get("active", True)]


async def apply_flows(running: RunningLatchkey, documents: Sequence[dict[str, Any]]) -> None:
    for document in documents:
        await running.publisher.publish(FLOWS, flow_event(document))


def standard_flows(system: LatchkeySystem) -> list[dict[str, Any]]:
    """The e2e story's flows: `readonly` automatic for engineering; `readwrite` reviewed by a DBA
    then the requester's manager; `access` on the noop integration automatic (load and HA runs)."""
    assert system.target is not None
    schema = f"schema:{system.target.name}.public"
    return [
        access_flow(
            "appdb-readonly",
            integration=system.integration_id,
            resource=schema,
            resource_type="schema",
            permissions=["readonly"],
            requester_groups=["engineering"],
        ),
        access_flow(
            "appdb-readwrite",
            integration=system.integration_id,
            resource=schema,
            resource_type="schema",
            permissions=["readwrite"],
            requester_groups=["engineering"],
            steps=[
                {"name": "database admin", "anyOf": [{"group": "db-admins"}]},
                {"name": "manager", "allOf": [{"manager": True}]},
            ],
        ),
        noop_flow(system),
    ]


def noop_flow(system: LatchkeySystem) -> dict[str, Any]:
    return access_flow(
        "noop-access",
        integration=system.noop_integration_id,
        resource="*",
        resource_type=None,
        permissions=["access"],
        requester_groups=["engineering"],
        default_duration="1h",
        max_duration="8h",
        rotate=False,
    )


async def wait_read_models(running: RunningLatchkey, *, people: Sequence[str], timeout: float = 60) -> None:
    """Wait until identity-sync published the directory, the connector its inventory, and
    flow-engine consumed all of it (and the flows): only then is a decision well-defined."""
    system = running.system
    t0 = time.monotonic()
    async with TopicReader(system.kafka_bootstrap, running.topic(USERS.name), USERS) as users:
        await users.wait_for(
            lambda rs: (
                set(people) <= {e.user_id for e in (r.event for r in rs) if isinstance(e, UserUpserted)}
            ),
            timeout,
            "directory users published",
        )
    async with TopicReader(system.kafka_bootstrap, running.topic(INVENTORY.name), INVENTORY) as inventory:
        wanted = {system.noop_integration_id} | ({system.integration_id} if system.target else set())

        def synced(rs: list[Record]) -> bool:
            done = {e.integration_id for e in (r.event for r in rs) if isinstance(e, InventorySynced)}
            return wanted <= done

        await inventory.wait_for(synced, timeout, "connector inventory synced")
        if system.target is not None:
            ids = {
                e.resource_id
                for e in (r.event for r in inventory.records)
                if isinstance(e, ResourceDiscovered)
            }
            assert running.resource in ids, f"{running.resource} not in inventory: {sorted(ids)[:20]}"
    running.timings["read models published"] = time.monotonic() - t0
    await wait_service_consumed(
        system.kafka_bootstrap,
        system.topic_prefix,
        "flow-engine",
        [running.topic(t.name) for t in (USERS, GROUPS, FLOWS, INVENTORY)],
        timeout,
    )
    running.timings["flow-engine caught up"] = time.monotonic() - t0


AUTOMATIC_GRANT_STORY = [
    "access.request.created",
    "access.request.approved",
    "access.grant.requested",
    "access.grant.activated",
    "access.grant.revoking",
    "access.grant.revoked",
]
"""The lifecycle of an automatically approved grant that expires, in order."""


def system_topics(connector_id: str) -> list[Topic]:
    """Every topic the four services use, with the connector's command topic."""
    return [
        USERS,
        GROUPS,
        FLOWS,
        REQUESTS,
        LIFECYCLE,
        RESULTS,
        INVENTORY,
        TIMERS,
        connector_commands(connector_id),
    ]


@asynccontextmanager
async def latchkey_running(
    *,
    kafka_bootstrap: str,
    admin_database_url: str,
    work_dir: Path,
    flows: Callable[[LatchkeySystem], list[dict[str, Any]]] = standard_flows,
    connector_replicas: int = 1,
    with_target: bool = True,
    step: Step | None = None,
    extra_env: dict[str, str] | None = None,
    topic_replication: int = 1,
    prefix: str | None = None,
    target_login: tuple[str, str] | None = None,
    noop_delay_ms: int = 0,
    adjust_spec: Callable[[ServiceSpec], ServiceSpec] | None = None,
) -> AsyncIterator[RunningLatchkey]:
    """Start the whole system (fresh topic prefix, control-plane database, target database, IdP,
    services) and tear all of it down afterwards, whatever happens.

    `noop_delay_ms` makes each call of the noop target take that long; `adjust_spec` may change how
    a service is run (e.g. one connector replica inside a network namespace)."""
    report = step or (lambda what, seconds: None)
    prefix = prefix or unique_prefix()
    db_name = f"latchkey_{prefix.strip('.')}"
    t0 = time.monotonic()
    control_url = sqlalchemy_url(create_database(admin_database_url, db_name))
    issuer = TestIssuer().start()
    env = {**(extra_env or {})}
    if topic_replication > 1:
        env["LATCHKEY_TOPIC_REPLICATION"] = str(topic_replication)
    system = LatchkeySystem(
        kafka_bootstrap=kafka_bootstrap,
        database_url=control_url,
        admin_database_url=admin_database_url,
        topic_prefix=prefix,
        work_dir=work_dir,
        oidc_issuer=issuer.issuer,
        connector_replicas=connector_replicas,
        extra_env=env,
        target_login=target_login,
        noop_delay_ms=noop_delay_ms,
    )
    services = ServiceGroup(system.log_dir)
    try:
        system.prepare(with_target=with_target)
        report(
            f"control-plane database {db_name} and target database "
            f"{system.target.name if system.target else '-'} created",
            time.monotonic() - t0,
        )
        t = time.monotonic()
        await create_topics(
            kafka_bootstrap,
            prefix,
            system_topics(system.connector_id),
            replication=topic_replication,
        )
        report(f"topics created under prefix {prefix}", time.monotonic() - t)
        for spec in system.specs():
            services.add(adjust_spec(spec) if adjust_spec else spec)
        t = time.monotonic()
        ready = services.start(timeout=120)
        report(
            "services ready: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in ready.items()),
            time.monotonic() - t,
        )
        async with Publisher(kafka_bootstrap, prefix) as publisher:
            async with TopicReader(kafka_bootstrap, f"{prefix}{LIFECYCLE.name}", LIFECYCLE) as lifecycle:
                running = RunningLatchkey(system, services, issuer, publisher, lifecycle)
                t = time.monotonic()
                await apply_flows(running, flows(system))
                await wait_read_models(running, people=directory_people(system.directory_file))
                report("directory synced, inventory discovered, flows applied", time.monotonic() - t)
                yield running
    finally:
        services.stop_all()
        issuer.stop()
        system.cleanup()
        if os.environ.get("LATCHKEY_KEEP_DATABASES") != "1":
            try:
                drop_database(admin_database_url, db_name)
            except Exception:
                pass


@dataclass
class PartialLatchkey:
    """Some services of a system, without the read models a full scenario waits for."""

    system: LatchkeySystem
    services: ServiceGroup
    issuer: TestIssuer
    publisher: Publisher

    def topic(self, name: str) -> str:
        return f"{self.system.topic_prefix}{name}"


@asynccontextmanager
async def services_running(
    names: Sequence[str],
    *,
    kafka_bootstrap: str,
    admin_database_url: str,
    work_dir: Path,
    with_target: bool = False,
    extra_env: dict[str, str] | None = None,
) -> AsyncIterator[PartialLatchkey]:
    """Start only the services `names` (e.g. ["expiry"]) of a fresh system; stop them afterwards."""
    prefix = unique_prefix()
    db_name = f"latchkey_{prefix.strip('.')}"
    control_url = sqlalchemy_url(create_database(admin_database_url, db_name))
    issuer = TestIssuer().start()
    system = LatchkeySystem(
        kafka_bootstrap=kafka_bootstrap,
        database_url=control_url,
        admin_database_url=admin_database_url,
        topic_prefix=prefix,
        work_dir=work_dir,
        oidc_issuer=issuer.issuer,
        extra_env=extra_env or {},
    )
    services = ServiceGroup(system.log_dir)
    try:
        system.prepare(with_target=with_target)
        await create_topics(
            kafka_bootstrap,
            prefix,
            system_topics(system.connector_id),
        )
        for spec in system.specs():
            if spec.name in names:
                services.add(spec)
        services.start(timeout=120)
        async with Publisher(kafka_bootstrap, prefix) as publisher:
            yield PartialLatchkey(system, services, issuer, publisher)
    finally:
        services.stop_all()
        issuer.stop()
        system.cleanup()
        try:
            drop_database(admin_database_url, db_name)
        except Exception:
            pass
