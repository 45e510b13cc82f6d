"""`python -m latchkey.expiry` as a real process: it starts, reports ready, lists timers for operators,
stops on SIGTERM; and `kill -9` in the middle of firing loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from latchkey.contracts import GrantActivated, RequestCreated, uuid7
from latchkey.expiry.firing import LATE_WARNING_SECONDS
from latchkey.runtime.health import probe
from latchkey.runtime.testing.ports import free_port

pytestmark = pytest.mark.infra


def activated(request: str, expires_at: datetime) -> GrantActivated:
    return GrantActivated(
        request_id=request, requester_id="ada", connector_id="c1", integration_id="pg", expires_at=expires_at
    )


def cli(process: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "latchkey.expiry", *args],
        env={**process.env, "COLUMNS": "250"},  # rich wraps to the terminal; keep ids whole
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_service_starts_reports_ready_lists_timers_and_stops_on_sigterm(
    expiry_process: Any, lifecycle: Any, timer_table: Any
) -> None:
    port = free_port()
    process = expiry_process(health_port=port)
    process.start()  # no arguments: `run` is the default
    deadline = time.monotonic() + 90
    # poll over HTTP (each `health` process costs an interpreter start), then ask the command once
    while not (await asyncio.to_thread(probe, "127.0.0.1", port, "/readyz"))[0]:
        assert process.proc.poll() is None, process.proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "not ready in time"
        await asyncio.sleep(0.3)
    health = await asyncio.to_thread(cli, process, "health")
    assert health.returncode == 0 and '"status": "ready"' in health.stdout, health

    request = f"req-{uuid7()}"
    await lifecycle.publish(
        RequestCreated(
            request_id=request,
            requester_id="ada",
            integration_id="pg",
            resource="db/orders",
            permission="read",
            duration_seconds=600,
            flow_name="manual",
            automatic=False,
            approval_deadline=datetime.now(UTC) + timedelta(minutes=30),
        )
    )
    await timer_table.wait_for(bool, 60, request)
    listed = await asyncio.to_thread(cli, process, "list", "--due-before", "1h")
    assert listed.returncode == 0, listed.stderr
    assert request in listed.stdout and "approval_timeout" in listed.stdout
    sooner = await asyncio.to_thread(cli, process, "list", "--due-before", "10m")
    assert request not in sooner.stdout

    # A grant whose activation reaches expiry after its end: revoked at once, and the log says why late.
    overdue = f"req-{uuid7()}"
    await lifecycle.publish(activated(overdue, datetime.now(UTC) - timedelta(seconds=5)))
    await timer_table.wait_for(lambda rows: any(r.state == "fired" for r in rows), 30, overdue)

    stopping = time.monotonic()
    assert await asyncio.to_thread(process.terminate, 10) == 0
    assert time.monotonic() - stopping < 10
    assert not (await asyncio.to_thread(probe, "127.0.0.1", port, "/livez"))[0]
    warnings = {e["event"]: e for e in process.log_events() if e.get("level") == "warning"}
    set_late = warnings["timers set after they were due"]
    assert (set_late["request_id"], set_late["kind"], set_late["count"]) == (overdue, "grant_end", 1)
    assert set_late["late_by_s"] >= 5 and "consumer lag" in set_late["hint"]
    assert warnings["overdue timers caught up"]["count"] == 1


async def test_kill_9_during_firing_loses_and_duplicates_nothing(
    expiry_process: Any, lifecycle: Any, timer_table: Any, timers_topic: Any
) -> None:
    count = 1500
    first = expiry_process("victim", fire_batch_size=10, reminder_lead_seconds=0)
    first.start()
    # The first process consumes the grants; they come due together a few seconds later.
    due = datetime.now(UTC) + timedelta(seconds=20)
    grants = [activated(f"req-{uuid7()}", due + timedelta(microseconds=i)) for i in range(count)]
    await lifecycle.publish(*grants)
    await timer_table.wait_for(lambda rows: len(rows) == count, 60)
    fired_before_kill = await timer_table.wait_for(
        lambda rows: sum(r.state == "fired" for r in rows) >= 50, 60
    )
    first.kill()
    fired_at_kill = sum(r.state == "fired" for r in fired_before_kill)
    assert fired_at_kill < count, "the kill came too late to interrupt firing"

    await asyncio.sleep(LATE_WARNING_SECONDS)  # down a while longer: the rest now fire late
    second = expiry_process("survivor", fire_batch_size=10, reminder_lead_seconds=0)
    second.start()
    rows = await timer_table.wait_for(lambda rows: all(r.state == "fired" for r in rows), 90)
    await timers_topic.wait_for(
        lambda: len({e.timer_id for e in timers_topic.fired()}) == count, 60, "every timer on the topic"
    )
    await timers_topic.settle(1.0)
    second.terminate(10)
    # The operator reads that firing ran late, and how much of it, in two lines rather than one a batch.
    warnings = {e["event"]: e for e in second.log_events() if e.get("level") == "warning"}
    assert "timers firing late" in warnings, warnings
    caught_up = warnings["overdue timers caught up"]
    assert 0 < caught_up["count"] <= count - fired_at_kill and caught_up["most_late_s"] > LATE_WARNING_SECONDS

    # exactly once in the database ...
    assert len(rows) == count and len({r.fired_event_id for r in rows}) == count
    # ... and on the topic at least once, any repeat being the same event (consumers dedupe on event_id)
    event_ids: dict[str, set[Any]] = defaultdict(set)
    for event in timers_topic.fired():
        event_ids[event.timer_id].add(event.event_id)
    assert {len(ids) for ids in event_ids.values()} == {1}
    assert {str(r.id): r.fired_event_id for r in rows} == {t: ids.pop() for t, ids in event_ids.items()}
