"""A connector replica cut off from Kafka for 30 s while requests stream through the whole system.

Setup: a network namespace joined to the host by a veth pair (tests/support/netns.py) and a Kafka
node of the test's own that binds and advertises the host end of the veth (`deploy/local/kafka
--host`), so processes on both sides reach it. identity-sync, flow-engine, expiry and connector
replicas 1 and 2 run in the host namespace, connector replica 3 inside the namespace (the connector
uses no database; the others use the test's own PostgreSQL on loopback). 5 automatic noop requests a
second, 6 s grants; the noop target takes 150 ms a call, so a replica often has commands in hand.

Once replica 3 has shown (by a result) that it owns a partition, the namespace's end of the veth goes
down for 30 s (link down: the replica's heartbeats, fetches and result writes all fail; the host
side keeps working), then comes back. Afterwards:

- while replica 3 was cut off, the commands on its partition got results from the other replicas
  (its partition moved to them after the session timeout and a rebalance);
- every command on the command topic has exactly one result, and it is `applied`. The one exception
  (docs/connector.md): a command replica 3 had in hand at the cut, run again by its successor, may
  also get replica 3's own result, which its producer delivers when the link is back (a late twin
  with the same outcome);
- every request went the whole way (created, approved, grant requested, activated, revoking,
  revoked), each step exactly once;
- the target (the noop journal) saw every grant revoked and none re-applied after its revoke; an
  operation reached it twice only if the cut-off replica had that command in hand when the link went
  down (docs/connector.md: a command applied but not yet reported is applied again by the replica
  that takes over);
- after its return the replica ran no command that another replica had already finished (its log
  names every command it ran).

Needs root and `ip netns` (skipped otherwise, with the reason) and LATCHKEY_TEST_INFRA=local (it
starts its own Kafka node with deploy/local/kafka). About 2 minutes: 45 s of stream, the rest is
starting Kafka, PostgreSQL and the six service processes. The service logs and a
partition-diagnostics.json (every result: replica, command record, when it was seen) stay in
$LATCHKEY_TEST_LOGS when that is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from latchkey.connector.results import SOURCE_HEADER
from latchkey.contracts import (
    REQUESTS,
    RESULTS,
    CommandApplied,
    CommandFailed,
    RequestSubmitted,
    connector_commands,
    uuid7,
)
from latchkey.runtime.testing import Infra, default_mode, start_local
from latchkey.runtime.testing.logs import log_entries
from tests.support.bus import Record, TopicReader
from tests.support.netns import IsolatedNetwork, isolated_network, unavailable
from tests.support.processes import ServiceSpec
from tests.support.scenario import (
    ALICE,
    AUTOMATIC_GRANT_STORY,
    BOB,
    DAVE,
    RunningLatchkey,
    latchkey_running,
    noop_flow,
)

pytestmark = [pytest.mark.infra, pytest.mark.slow, pytest.mark.timeout(300)]

CUT_OFF = "connector-3"  # the replica inside the namespace
RATE = 5.0  # requests per second
CUT_AT = 6.0  # seconds into the stream (once the replica has shown it owns a partition)
CUT_SECONDS = 30.0
AFTER_RETURN = 8.0  # the stream goes on this long after the link is back
GRANT_SECONDS = 6
NOOP_DELAY_MS = 150


@pytest.fixture
def isolated() -> Iterator[IsolatedNetwork]:
    """A network namespace + veth pair, deleted afterwards even when the test fails."""
    if default_mode() != "local":
        pytest.skip("starts its own Kafka node with deploy/local/kafka: needs LATCHKEY_TEST_INFRA=local")
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"network namespace unavailable: {reason}")
    with isolated_network() as net:
        yield net


@pytest.fixture
def servers(isolated: IsolatedNetwork) -> Iterator[Infra]:
    """A Kafka node on the host end of the veth (reachable from both namespaces) and a PostgreSQL
    server on loopback, both this test's own, started in parallel and stopped afterwards."""
    handle = start_local(nodes=1, kafka_host=isolated.host_address)
    try:
        yield handle.infra
    finally:
        handle.stop()


@dataclass
class Cut:
    """When the link went down and came back: monotonic (as the readers stamp records) and wall clock
    (as the services' logs do)."""

    down: float = 0.0
    up: float = 0.0
    down_wall: float = 0.0
    up_wall: float = 0.0
    owned_before: set[int] = field(default_factory=set)


def replica_of(record: Record) -> str:
    assert isinstance(record.event, CommandApplied | CommandFailed)
    return record.event.replica.split(":")[0]


def partition_of(record: Record) -> int:
    # "<topic>:<partition>:<offset>" of the command the result answers
    return int(record.headers[SOURCE_HEADER].rsplit(":", 2)[1])


def commands_run(log: str) -> list[tuple[float, str]]:
    """(wall-clock time, command id) of every command a connector replica ran against its target."""
    ran = log_entries(log, "command processed")
    return [(at.timestamp(), e["command_id"]) for at, e in ran if e.get("command_id")]


async def follow(reader: TopicReader) -> None:
    while True:
        await reader.poll(100)


async def stream_requests(running: RunningLatchkey, seconds: float) -> list[str]:
    """Automatic noop requests at RATE/s for `seconds`; returns their ids."""
    tokens = {who: running.token(who, expires_in=3600) for who in (ALICE, BOB, DAVE)}
    people = list(tokens)
    ids: list[str] = []
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        request_id = str(uuid7())
        await running.publisher.publish(
            REQUESTS,
            RequestSubmitted(
                request_id=request_id,
                id_token=tokens[people[n % len(people)]],
                integration_id=running.system.noop_integration_id,
                resource="noop-resource",
                permission="access",
                duration_seconds=GRANT_SECONDS,
                producer="partition-test",
                correlation_id=request_id,
            ),
        )
        ids.append(request_id)
        n += 1
        await asyncio.sleep(max(0.0, n / RATE - (time.monotonic() - t0)))
    return ids


async def cut_link(net: IsolatedNetwork, results: TopicReader, cut: Cut, t0: float) -> None:
    """Take the namespace's link down for CUT_SECONDS, once the replica inside has shown (by a
    result) that it owns a partition and CUT_AT seconds of the stream have passed."""
    deadline = t0 + CUT_AT + 20
    while True:
        owned = {partition_of(r) for r in results.records if replica_of(r) == CUT_OFF}
        if owned and time.monotonic() - t0 >= CUT_AT:
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"{CUT_OFF} published no result in {CUT_AT + 20:.0f}s: it owns no partition")
        await asyncio.sleep(0.1)
    cut.owned_before = owned
    cut.down, cut.down_wall = time.monotonic(), time.time()
    net.cut()
    await asyncio.sleep(CUT_SECONDS)
    net.restore()
    cut.up, cut.up_wall = time.monotonic(), time.time()


async def test_connector_cut_off_from_kafka_hands_over_and_does_not_redo_work(
    isolated: IsolatedNetwork, servers: Infra, tmp_path: Path
) -> None:
    phases: list[str] = []
    began = time.monotonic()

    def phase(what: str) -> None:
        phases.append(f"{what} {time.monotonic() - began:.1f}s")

    def inside_namespace(spec: ServiceSpec) -> ServiceSpec:
        if spec.name != CUT_OFF:
            return spec
        return replace(spec, command_prefix=isolated.exec_prefix(), health_host=isolated.ns_address)

    async with latchkey_running(
        kafka_bootstrap=servers.kafka_bootstrap,
        admin_database_url=servers.admin_database_url,
        work_dir=tmp_path,
        flows=lambda system: [noop_flow(system)],
        connector_replicas=3,
        with_target=False,
        noop_delay_ms=NOOP_DELAY_MS,
        adjust_spec=inside_namespace,
    ) as running:
        phase("system ready at")
        system = running.system
        bootstrap = running.bootstrap
        commands_topic = running.topic(connector_commands(system.connector_id).name)
        cut = Cut()
        async with TopicReader(bootstrap, running.topic(RESULTS.name), RESULTS) as results:
            follower = asyncio.create_task(follow(results))
            try:
                t0 = time.monotonic()
                async with asyncio.TaskGroup() as group:  # a failing cut stops the stream too
                    streaming = group.create_task(
                        stream_requests(running, CUT_AT + CUT_SECONDS + AFTER_RETURN)
                    )
                    group.create_task(cut_link(isolated, results, cut, t0))
                ids = streaming.result()
                phase("stream done at")

                def all_final(records: list[Record]) -> bool:
                    revoked = {r.key for r in records if r.type == "access.grant.revoked"}
                    failed = {
                        r.key for r in records if r.type in ("access.grant.failed", "access.request.rejected")
                    }
                    return set(ids) <= revoked | failed

                try:
                    await running.lifecycle.wait_for(all_final, GRANT_SECONDS + 90, "every request revoked")
                except TimeoutError as exc:
                    raise AssertionError(f"{exc}\n{running.services.describe_failure()}") from None
                phase("every request revoked at")
                await asyncio.sleep(2)  # a late (duplicate) result would arrive now
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower
        async with TopicReader(bootstrap, commands_topic) as commands_reader:
            await commands_reader.drain(1.0)
        commands = {
            json.loads(r.value)["command_id"]: r.partition
            for r in commands_reader.records
            if r.value is not None
        }
        logs = running.services.logs()

    problems = check(running, cut, ids, commands, results.records, logs)
    (system.log_dir / "partition-diagnostics.json").write_text(
        json.dumps(
            {
                "cut": {
                    "down_wall": cut.down_wall,
                    "up_wall": cut.up_wall,
                    "owned": sorted(cut.owned_before),
                },
                "results": [
                    {
                        "command_id": r.event.command_id,
                        "replica": replica_of(r),
                        "source": r.headers.get(SOURCE_HEADER),
                        "after_cut_s": round(r.received_at - cut.down, 3),
                    }
                    for r in results.records
                    if isinstance(r.event, CommandApplied | CommandFailed)
                ],
            },
            indent=1,
        )
    )
    print(f"network partition: {problems.summary}; {', '.join(phases)}")
    assert not problems.found, "\n".join(problems.found)


@dataclass
class Findings:
    found: list[str] = field(default_factory=list)
    summary: str = ""

    def expect(self, ok: object, problem: str) -> None:
        if not ok:
            self.found.append(problem)


def check(
    running: RunningLatchkey,
    cut: Cut,
    ids: list[str],
    commands: dict[str, int],
    results: list[Record],
    logs: dict[str, str],
) -> Findings:
    """Every assertion of the module docstring; all problems at once, so one run shows the whole picture."""
    findings = Findings()
    expect = findings.expect
    since_cut = {name: [(at - cut.down_wall, c) for at, c in commands_run(log)] for name, log in logs.items()}

    # --- the cut-off replica's partitions moved to the others while it was away --------------------
    expect(cut.owned_before, f"{CUT_OFF} owned no partition before the cut")
    taken_over = [
        r
        for r in results
        if partition_of(r) in cut.owned_before
        and replica_of(r) != CUT_OFF
        and cut.down < r.received_at < cut.up
    ]
    expect(
        taken_over,
        f"no command on {CUT_OFF}'s partitions {sorted(cut.owned_before)} got a result from another "
        f"replica during the {CUT_SECONDS:.0f}s cut",
    )
    failover = min((r.received_at for r in taken_over), default=cut.up) - cut.down
    # ... and the replicas that took them over said so in their logs (what an operator reads)
    logged_takeover = {
        partition
        for name, log in logs.items()
        if name != CUT_OFF
        for at, entry in log_entries(log, "partitions assigned")
        if at.timestamp() >= cut.down_wall and entry["topic"].endswith(".commands.v1")
        for partition in entry["partitions"]
    }
    expect(
        cut.owned_before <= logged_takeover,
        f"the other replicas logged no assignment of {CUT_OFF}'s partitions {sorted(cut.owned_before)} "
        f"during the cut (logged: {sorted(logged_takeover)})",
    )

    # --- every command exactly one result, applied -------------------------------------------------
    by_command: dict[str, list[Record]] = defaultdict(list)
    for r in results:
        assert isinstance(r.event, CommandApplied | CommandFailed)
        by_command[r.event.command_id].append(r)
    # What the cut-off replica had in hand when the link went down: commands it ran before its return
    # whose result from it had not landed before the cut.
    reported_before_cut = {
        r.event.command_id
        for r in results
        if isinstance(r.event, CommandApplied | CommandFailed)
        and replica_of(r) == CUT_OFF
        and r.received_at < cut.down
    }
    cut_seconds = cut.up_wall - cut.down_wall
    in_hand = {c for t, c in since_cut[CUT_OFF] if t < cut_seconds and c not in reported_before_cut}
    missing = [c for c in commands if c not in by_command]
    expect(not missing, f"{len(missing)} of {len(commands)} commands have no result, e.g. {missing[:3]}")

    def story(command_id: str) -> str:
        got = ", ".join(
            f"{replica_of(r)} result for {r.headers.get(SOURCE_HEADER, '?').split(':', 1)[-1]} "
            f"seen {r.received_at - cut.down:+.1f}s"
            for r in by_command[command_id]
        )
        ran = ", ".join(
            f"{name} ran it {t:+.1f}s" for name, runs in since_cut.items() for t, c in runs if c == command_id
        )
        return f"{command_id}: {got}; {ran} (times relative to the cut)"

    def late_twin(command_id: str) -> bool:
        # The one allowed second result: the replica that took over ran a command the cut-off replica
        # had in hand, and the cut-off replica's own result (its producer kept retrying) landed after
        # its return. Same command, same outcome; consumers of results keep the first.
        found = by_command[command_id]
        return (
            command_id in in_hand
            and len(found) == 2
            and sorted(replica_of(r) == CUT_OFF for r in found) == [False, True]
            and len({r.type for r in found}) == 1
        )

    late = [c for c, rs in by_command.items() if len(rs) > 1 and late_twin(c)]
    doubled = [c for c, rs in by_command.items() if len(rs) > 1 and not late_twin(c)]
    expect(
        not doubled,
        f"{len(doubled)} commands have more than one result:\n  "
        + "\n  ".join(story(c) for c in doubled[:6]),
    )
    failed = Counter(
        f"{r.event.code}: {r.event.reason[:120]}" for r in results if isinstance(r.event, CommandFailed)
    )
    expect(not failed, f"commands failed: {dict(failed)}")

    # --- every request went the whole way, each step once -----------------------------------------
    steps: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    wanted = set(ids)
    for record in running.lifecycle.records:
        if record.key in wanted and record.event is not None:
            steps[record.key][record.event.type].add(str(record.event.event_id))
    incomplete = {i: sorted(steps[i]) for i in ids if any(t not in steps[i] for t in AUTOMATIC_GRANT_STORY)}
    expect(not incomplete, f"{len(incomplete)} requests lost a step, e.g. {list(incomplete.items())[:2]}")
    twice = {i: {t: len(e) for t, e in steps[i].items() if len(e) > 1} for i in ids}
    twice = {i: t for i, t in twice.items() if t}
    expect(not twice, f"lifecycle steps published twice: {list(twice.items())[:3]}")

    # --- the target: final state right; a repeat only for what the replica had in hand -------------
    operation_of: dict[str, str] = {}  # command id -> "<grant|revoke> <grant id>"
    for r in results:
        assert isinstance(r.event, CommandApplied | CommandFailed)
        operation_of[r.event.command_id] = f"{r.event.command_type.split('.')[-1]} {r.event.grant_id}"
    journal = [line.split() for line in running.system.noop_journal.read_text().splitlines()]
    last_op: dict[str, str] = {}
    resurrected = []
    for operation, grant_id, *_ in journal:
        if operation == "grant" and last_op.get(grant_id) == "revoke":
            resurrected.append(grant_id)
        last_op[grant_id] = operation
    expect(not resurrected, f"grants re-applied after their revoke: {resurrected[:5]}")
    still_granted = [i for i in ids if last_op.get(i) != "revoke"]
    expect(not still_granted, f"{len(still_granted)} grants not revoked on the target: {still_granted[:5]}")

    # A retried revoke is a new command: count repeats beyond one application per command.
    issued = Counter(operation_of.values())
    applied = Counter(f"{operation} {grant_id}" for operation, grant_id, *_ in journal)
    repeated = {op: n - issued[op] for op, n in applied.items() if n > issued[op]}
    in_hand_operations = {operation_of.get(c, c) for c in in_hand}
    unexplained = sorted(op for op in repeated if op not in in_hand_operations)
    command_for = {op: c for c, op in operation_of.items()}
    expect(
        not unexplained,
        f"{len(unexplained)} operations applied twice on the target that {CUT_OFF} did not have in hand "
        "at the cut:\n  "
        + "\n  ".join(f"{op} ({story(command_for[op])})" for op in unexplained[:6] if op in command_for),
    )

    # --- after its return the replica ran nothing that was already finished ------------------------
    finished_elsewhere = {c for c, rs in by_command.items() if any(replica_of(r) != CUT_OFF for r in rs)}
    redone = [c for t, c in since_cut[CUT_OFF] if t >= cut_seconds and c in finished_elsewhere]
    expect(
        not redone,
        f"{CUT_OFF} re-ran {len(redone)} commands after its return that other replicas ran:\n  "
        + "\n  ".join(story(c) for c in redone[:6]),
    )

    ran_after = sum(1 for t, _ in since_cut[CUT_OFF] if t >= cut_seconds)
    skipped = logs[CUT_OFF].count("command already has a result")
    findings.summary = (
        f"{len(ids)} requests, {len(commands)} commands; {CUT_OFF} owned partitions "
        f"{sorted(cut.owned_before)}, others answered on them {failover:.1f}s after the cut "
        f"({len(taken_over)} results during the cut); {CUT_OFF} had {len(in_hand)} commands in hand "
        f"at the cut ({len(late)} got a second, late result from it), target repeats "
        f"{sum(repeated.values())}; after its return it ran {ran_after} commands and skipped "
        f"{skipped} already finished"
    )
    return findings
