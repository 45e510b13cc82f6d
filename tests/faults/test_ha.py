"""High availability under a stream of requests: three Kafka brokers (RF 3, min ISR 2), three
connector replicas; mid-stream a connector replica and then a broker are killed with SIGKILL, and
flow-engine, expiry and PostgreSQL are restarted. Afterwards every request has ended (its grant
expired and was revoked), nothing was granted twice, no lifecycle event is missing, and the target
(the noop integration's journal) saw every grant revoked and none re-applied after its revoke.

Needs LATCHKEY_TEST_INFRA=local (it kills and restarts real broker nodes and the PostgreSQL server).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import subprocess
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from latchkey.contracts import REQUESTS, RequestSubmitted, uuid7
from latchkey.runtime.testing import InfraHandle, KafkaCluster
from tests.support.scenario import (
    ALICE,
    AUTOMATIC_GRANT_STORY,
    BOB,
    DAVE,
    RunningLatchkey,
    latchkey_running,
    noop_flow,
)

pytestmark = [pytest.mark.infra, pytest.mark.slow, pytest.mark.timeout(600)]

REQUESTS_TOTAL = int(os.environ.get("LATCHKEY_HA_REQUESTS", "1000"))  # a 1,000-request stream
RATE = 20.0  # requests per second: the stream lasts REQUESTS_TOTAL / RATE seconds
GRANT_SECONDS = 20


def restart_postgres(handle: InfraHandle) -> None:
    """`pg_ctl restart -m fast`: every connection of every service is cut at once."""
    assert handle.state_dir is not None
    info = json.loads((handle.state_dir / "postgres.json").read_text())
    pg_ctl = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1]
    command = [pg_ctl, "-D", info["datadir"], "-m", "fast", "-w", "-t", "60", "restart"]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    log = Path(info["datadir"]).parent / "postgres.log"
    subprocess.run([*command, "-l", str(log)], check=True, capture_output=True, timeout=90)


async def _stream(running: RunningLatchkey, faults: dict[float, object]) -> list[str]:
    """Publish REQUESTS_TOTAL automatic noop requests at RATE/s, firing each fault at its second."""
    tokens = {who: running.token(who, expires_in=3600) for who in (ALICE, BOB, DAVE)}
    people = list(tokens)
    ids: list[str] = []
    pending = sorted(faults.items(), key=lambda kv: kv[0])
    running_faults: list[asyncio.Task[object]] = []
    t0 = time.monotonic()
    for n in range(REQUESTS_TOTAL):
        while pending and time.monotonic() - t0 >= pending[0][0]:
            _, fault = pending.pop(0)
            # in the background: the stream goes on while a service restarts
            running_faults.append(asyncio.create_task(asyncio.to_thread(fault)))  # type: ignore[arg-type]
        who = people[n % len(people)]
        request_id = str(uuid7())
        event = RequestSubmitted(
            request_id=request_id,
            id_token=tokens[who],
            integration_id=running.system.noop_integration_id,
            resource="noop-resource",
            permission="access",
            duration_seconds=GRANT_SECONDS,
            producer="ha-test",
            correlation_id=request_id,
        )
        for attempt in range(30):  # a broker may be down: the frontend retries
            try:
                await running.publisher.publish(REQUESTS, event)
                break
            except Exception:
                if attempt == 29:
                    raise
                await asyncio.sleep(1)
        ids.append(request_id)
        await asyncio.sleep(max(0.0, (n + 1) / RATE - (time.monotonic() - t0)))
    for _, fault in pending:
        await asyncio.to_thread(fault)  # type: ignore[arg-type]
    await asyncio.gather(*running_faults)
    return ids


async def test_requests_survive_replica_broker_and_restarts(
    kafka_ha: KafkaCluster, infra_handle: InfraHandle, tmp_path: Path
) -> None:
    infra = infra_handle.infra
    async with latchkey_running(
        kafka_bootstrap=kafka_ha.bootstrap,
        admin_database_url=infra.admin_database_url,
        work_dir=tmp_path,
        flows=lambda system: [noop_flow(system)],
        connector_replicas=3,
        with_target=False,
        topic_replication=3,
    ) as running:
        services = running.services
        timeline: list[tuple[float, str]] = []
        start = time.monotonic()

        def mark(what: str) -> None:
            timeline.append((round(time.monotonic() - start, 1), what))

        def kill_connector() -> None:
            services["connector-1"].kill()
            mark("kill -9 connector-1")

        def kill_broker() -> None:
            kafka_ha.kill_node(2)
            mark("kill -9 broker 2")

        def restart(name: str) -> None:
            services[name].kill()
            services[name].start()
            services[name].wait_ready(90)
            mark(f"{name} killed and restarted")

        def restart_pg() -> None:
            restart_postgres(infra_handle)
            mark("PostgreSQL restarted")

        stream_seconds = REQUESTS_TOTAL / RATE
        faults: dict[float, object] = {
            stream_seconds * 0.15: kill_connector,
            stream_seconds * 0.30: kill_broker,
            stream_seconds * 0.45: lambda: restart("flow-engine"),
            stream_seconds * 0.60: lambda: restart("expiry"),
            stream_seconds * 0.75: restart_pg,
        }
        ids = await _stream(running, faults)
        mark(f"{len(ids)} requests published")
        kafka_ha.start_node(2)
        mark("broker 2 back")

        def all_final(records: list) -> bool:  # type: ignore[type-arg]
            revoked = {r.key for r in records if r.type == "access.grant.revoked"}
            failed = {r.key for r in records if r.type in ("access.grant.failed", "access.request.rejected")}
            return set(ids) <= revoked | failed

        try:
            await running.lifecycle.wait_for(all_final, GRANT_SECONDS + 150, "every request revoked")
        finally:
            mark("waited for the end of every grant")
            print("timeline:", timeline)

        # --- every request went the whole way, each step exactly once (by event id) -------------
        by_request: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        wanted = set(ids)
        for record in running.lifecycle.records:
            if record.key in wanted:
                assert record.event is not None
                by_request[record.key][record.event.type].add(str(record.event.event_id))
        incomplete = {
            i: sorted(t for t, e in by_request[i].items() if e)
            for i in ids
            if any(t not in by_request[i] for t in AUTOMATIC_GRANT_STORY)
        }
        reasons = Counter(
            str(getattr(r.event, "reason", ""))[:160]
            for r in running.lifecycle.records
            if r.key in wanted and r.type in ("access.grant.failed", "access.request.rejected")
        )
        assert not incomplete, (
            f"{len(incomplete)} requests lost a step, e.g. {list(incomplete.items())[:2]}; "
            f"failures: {dict(reasons)}"
        )
        doubled = {
            i: {t: len(e) for t, e in by_request[i].items() if len(e) > 1}
            for i in ids
            if any(
                len(by_request[i].get(t, ())) > 1 for t in ("access.grant.activated", "access.grant.revoked")
            )
        }
        assert not doubled, f"granted or revoked twice: {list(doubled.items())[:3]}"

        # --- the target: every grant revoked, none re-applied after its revoke ------------------
        journal = [line.split() for line in running.system.noop_journal.read_text().splitlines()]
        last_op: dict[str, str] = {}
        resurrected = []
        for operation, grant_id, *_ in journal:
            if operation == "grant" and last_op.get(grant_id) == "revoke":
                resurrected.append(grant_id)
            last_op[grant_id] = operation
        assert not resurrected, f"grants re-applied after their revoke: {resurrected[:5]}"
        still_granted = [i for i in ids if last_op.get(i) != "revoke"]
        assert not still_granted, (
            f"{len(still_granted)} grants not revoked in the target: {still_granted[:5]}"
        )
        applied = Counter(grant_id for operation, grant_id, *_ in journal if operation == "grant")
        print(
            f"HA run: {len(ids)} requests, re-applied grants (idempotent, after failover): "
            f"{sum(1 for c in applied.values() if c > 1)}, timeline {timeline}"
        )
