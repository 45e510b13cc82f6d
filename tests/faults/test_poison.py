"""Poison on every consumed topic: random bytes, JSON that is not an event, wrong field types, a huge
payload, an unknown event type, a future (breaking) schema version and a tombstone where none belongs.

For each topic a service consumes, with the service running as its own process: every poison record
lands in `<topic>.dlq` byte for byte with a reason (a tombstone is skipped, not dead-lettered), the
service keeps running and stays ready, and the good event published after the poison, on the same
partition, is processed (the service's consumer group commits past it, and where the good event has a
visible effect, the effect happens).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition

from latchkey.contracts import (
    FLOWS,
    GROUPS,
    INVENTORY,
    LIFECYCLE,
    REQUESTS,
    RESULTS,
    TIMERS,
    USERS,
    CommandApplied,
    Event,
    GroupUpserted,
    RequestCreated,
    RequestSubmitted,
    ResourceDiscovered,
    SyncInventoryCommand,
    TimerFired,
    Topic,
    UserUpserted,
    connector_commands,
    utcnow,
    uuid7,
)
from latchkey.runtime.signing import CommandSigner, load_private_key
from latchkey.runtime.testing import Infra
from tests.support.bus import (
    Record,
    TopicReader,
    committed_offsets,
    consumer_groups,
    dead_letter_records,
)
from tests.support.scenario import PartialLatchkey, services_running
from tests.support.system import access_flow, flow_event

pytestmark = [pytest.mark.infra, pytest.mark.timeout(240)]

HUGE = 900_000  # under the broker's 1 MB message limit, as a real oversized event would be


@dataclass(frozen=True)
class Case:
    service: str
    topic: Topic
    good: Callable[[PartialLatchkey], Event]
    # an observable effect of the good event beyond the offset commit: (topic, predicate on records)
    effect: Callable[[PartialLatchkey, Event], tuple[Topic, Callable[[list[Record]], bool]]] | None = None


def _request(system: PartialLatchkey) -> Event:
    request_id = str(uuid7())
    return RequestSubmitted(
        request_id=request_id,
        id_token="not.a.token",
        integration_id="noop",
        resource="noop-resource",
        permission="access",
        producer="poison-test",
        correlation_id=request_id,
    )


def _rejected(system: PartialLatchkey, good: Event) -> tuple[Topic, Callable[[list[Record]], bool]]:
    request_id = good.request_id  # type: ignore[attr-defined]
    return LIFECYCLE, lambda rs: any(r.key == request_id and r.type == "access.request.rejected" for r in rs)


def _sync_command(system: PartialLatchkey) -> Event:
    now = utcnow()
    command = SyncInventoryCommand(
        command_id=str(uuid7()),
        grant_id=f"sync-{uuid7()}",
        connector_id=system.system.connector_id,
        integration_id=system.system.noop_integration_id,
        issued_at=now,
        not_after=now + timedelta(minutes=5),
        producer="poison-test",
    )
    return CommandSigner(load_private_key(system.system.signing_key)).sign(command)


def _applied(system: PartialLatchkey, good: Event) -> tuple[Topic, Callable[[list[Record]], bool]]:
    command_id = good.command_id  # type: ignore[attr-defined]
    return RESULTS, lambda rs: any(
        isinstance(r.event, CommandApplied) and r.event.command_id == command_id for r in rs
    )


def _flow(system: PartialLatchkey) -> Event:
    return flow_event(
        access_flow(
            f"poison-ok-{uuid7().hex[-6:]}",
            integration="noop",
            resource="*",
            resource_type=None,
            permissions=["access"],
            requester_groups=["engineering"],
        )
    )


def _created(system: PartialLatchkey) -> Event:
    request_id = str(uuid7())
    return RequestCreated(
        request_id=request_id,
        requester_id="u-alice",
        integration_id="noop",
        resource="noop-resource",
        permission="access",
        duration_seconds=3600,
        flow_name="poison-ok",
        automatic=False,
        approval_deadline=utcnow() + timedelta(hours=1),
        producer="poison-test",
        correlation_id=request_id,
    )


COMMANDS = connector_commands("acme")  # LatchkeySystem's default connector id

CASES = [
    Case("flow-engine", REQUESTS, _request, _rejected),
    Case("flow-engine", USERS, lambda s: UserUpserted(user_id=f"u-{uuid7()}", email="ok@example.com")),
    Case(
        "flow-engine",
        GROUPS,
        lambda s: GroupUpserted(group_id=f"g-{uuid7()}", name="poison-ok", member_ids=["u-alice"]),
    ),
    Case("flow-engine", FLOWS, _flow),
    Case(
        "flow-engine",
        INVENTORY,
        lambda s: ResourceDiscovered(
            connector_id="acme",
            integration_id="noop",
            integration_type="noop",
            resource_id=f"poison-ok-{uuid7()}",
            resource_type="noop",
            name="poison-ok",
            permissions=["access"],
        ),
    ),
    Case(
        "flow-engine",
        RESULTS,
        lambda s: CommandApplied(
            command_id=str(uuid7()),
            grant_id=str(uuid7()),  # a grant flow-engine never asked for: logged, ignored
            connector_id="acme",
            command_type="connector.grant",
            attempt=1,
        ),
    ),
    Case(
        "flow-engine",
        TIMERS,
        lambda s: TimerFired(
            timer_id=str(uuid7()), kind="expiry_reminder", request_id=str(uuid7()), due_at=utcnow()
        ),
    ),
    Case("expiry", LIFECYCLE, _created),
    Case("connector", COMMANDS, _sync_command, _applied),
]


def _poison(good: Event) -> dict[str, bytes | None]:
    """Each kind of bad record, shaped after the topic's own good event where that makes it nastier."""
    valid = json.loads(good.model_dump_json())
    wrong_types = {**valid, "event_id": 42, "occurred_at": "yesterday"}
    for name, value in valid.items():
        if isinstance(value, str) and name not in ("type", "event_id", "occurred_at"):
            wrong_types[name] = {"nested": [value]}
    return {
        "random bytes": os.urandom(512),
        "json array": b"[1, 2, 3]",
        "json null": b"null",
        "truncated json": good.model_dump_json().encode()[:-7],
        "wrong types": json.dumps(wrong_types).encode(),
        "huge payload": json.dumps({**valid, "padding": "A" * HUGE, "event_id": "x"}).encode(),
        "unknown type": json.dumps({**valid, "type": f"{valid['type']}.teleported"}).encode(),
        "future schema version": json.dumps(
            {"type": valid["type"], "schema_version": 7, "payload": {"renamed": True}}
        ).encode(),
        "tombstone": None,
    }


@pytest.fixture(scope="module")
async def running(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, PartialLatchkey]]:
    """One process per service, started the first time a case needs it, stopped with the module."""
    started: dict[str, PartialLatchkey] = {}
    stacks = []
    try:

        async def get(name: str) -> PartialLatchkey:
            if name not in started:
                context = services_running(
                    [name],
                    kafka_bootstrap=infra.kafka_bootstrap,
                    admin_database_url=infra.admin_database_url,
                    work_dir=tmp_path_factory.mktemp(f"poison-{name}"),
                )
                started[name] = await context.__aenter__()
                stacks.append(context)
            return started[name]

        yield get  # type: ignore[misc]
    finally:
        for context in reversed(stacks):
            await context.__aexit__(None, None, None)


async def _committed_past(system: PartialLatchkey, service: str, tp: TopicPartition) -> int:
    best = -1
    for group in await consumer_groups(
        system.system.kafka_bootstrap, f"{system.system.topic_prefix}{service}"
    ):
        best = max(best, (await committed_offsets(system.system.kafka_bootstrap, group)).get(tp, -1))
    return best


@pytest.mark.parametrize("case", CASES, ids=[f"{c.service}:{c.topic.name}" for c in CASES])
async def test_poison_is_dead_lettered_and_the_next_good_event_is_processed(running: Any, case: Case) -> None:
    system: PartialLatchkey = await running(case.service)
    good = case.good(system)
    key = case.topic.key_of(good)
    poison = _poison(good)
    sent: dict[str, Any] = {}
    for kind, value in poison.items():
        sent[kind] = await system.publisher.raw(
            case.topic.name, value, key=key, headers={"traceparent": "00-garbage-not-a-trace"}
        )
    good_meta = await system.publisher.publish(case.topic, good)
    partitions = {m.partition for m in sent.values()} | {good_meta.partition}
    assert len(partitions) == 1, "poison and good event share the key, hence the partition"
    tp = TopicPartition(system.topic(case.topic.name), good_meta.partition)

    # The good event after the poison is processed: the group commits past it.
    deadline = time.monotonic() + 60
    while (await _committed_past(system, case.service, tp)) <= good_meta.offset:
        process = system.services[case.service]
        assert process.running, f"{case.service} died on poison:\n{process.log_tail()}"
        assert time.monotonic() < deadline, (
            f"{case.service} stuck before offset {good_meta.offset} of {tp}:\n{process.log_tail(25)}"
        )
        await asyncio.sleep(0.3)

    # Every poison record is in the DLQ, byte for byte, with a reason.
    expected = {m.offset: kind for kind, m in sent.items() if poison[kind] is not None}
    dlq_name = system.topic(case.topic.dlq)
    async with TopicReader(system.system.kafka_bootstrap, dlq_name) as dlq:

        def all_there(records: list[Record]) -> bool:
            return set(expected) <= {
                d.offset for d in dead_letter_records(records) if d.partition == tp.partition
            }

        await dlq.wait_for(all_there, 30, f"DLQ records for {sorted(expected.values())}")
        letters = {d.offset: d for d in dead_letter_records(dlq.records) if d.partition == tp.partition}
    for offset, kind in expected.items():
        letter = letters[offset]
        assert letter.source_topic == tp.topic
        assert letter.reason.strip(), f"{kind}: dead-lettered without a reason"
        original = poison[kind]
        assert original is not None and letter.value_b64 is not None, f"{kind}: DLQ record without the value"
        kept = base64.b64decode(letter.value_b64)
        if kept != original:
            # A value too big to fit the DLQ with its base64 is cut, and the reason must say so.
            assert kind == "huge payload" and original.startswith(kept), (
                f"{kind}: DLQ value is not the original"
            )
            assert "truncated" in letter.reason, f"{kind}: value cut without saying so: {letter.reason[:200]}"
    assert good_meta.offset not in letters, (
        f"the good event was dead-lettered: {letters.get(good_meta.offset)}"
    )
    tombstone = sent["tombstone"].offset
    assert tombstone not in letters or letters[tombstone].reason

    if case.effect is not None:
        effect_topic, seen = case.effect(system, good)
        async with TopicReader(
            system.system.kafka_bootstrap, system.topic(effect_topic.name), effect_topic
        ) as reader:
            await reader.wait_for(seen, 30, f"effect of the good event on {effect_topic.name}")

    process = system.services[case.service]
    assert process.running and process.ready(), (
        f"{case.service} not ready after poison:\n{process.log_tail()}"
    )
