"""Three replicas of one connector on the real broker; one is kill -9'd in the middle of 300 commands;
and the inventory schedule runs on one replica at a time, moving when that one dies.

What is guaranteed (docs/connector.md, "Delivery and replay"): every command gets exactly one
result on connector.results.v1; a command whose result was published before the crash is not run
again (the takeover replica reads the results topic first); a command the dead replica had applied
but not yet reported may be applied a second time by the takeover replica, which the idempotent
integration turns into the same target state.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest

from latchkey.connector.testing import ConnectorProcess, failover_scenario, write_connector_yaml
from latchkey.contracts import INVENTORY
from latchkey.runtime.signing import generate_private_key, load_private_key, public_key_of
from latchkey.runtime.testing import unique_prefix
from latchkey.runtime.testing.bus import read_until
from latchkey.runtime.testing.logs import log_entries

pytestmark = [pytest.mark.infra, pytest.mark.slow]


async def test_kill_9_of_one_replica_loses_nothing_and_duplicates_no_result(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    report = await failover_scenario(kafka_bootstrap, tmp_path, commands=300, replicas=3, delay_ms=30)
    assert report.killed_partitions, "the killed replica owned partitions"
    assert set(report.results_per_command.values()) == {1}, "exactly one result per command"
    assert set(report.applied_per_command.values()) == {1}, "and it is `applied`"
    # Target state: every grant present; re-execution only for commands in flight at the kill.
    assert all(count >= 1 for count in report.journal_grants.values())
    re_executed = sum(count - 1 for count in report.journal_grants.values())
    assert re_executed <= 20, f"{re_executed} re-executions: more than one in-flight batch"
    # The partitions of the dead replica were picked up within the session timeout (+ rebalance).
    assert 0 < report.failover_seconds < report.session_timeout_ms / 1000 + 15
    print(
        f"failover {report.failover_seconds:.1f}s (session timeout {report.session_timeout_ms} ms), "
        f"re-executed {re_executed}, silent redeliveries {report.redelivered_commands}"
    )


def _inventory_passes(log: str, since: float) -> list[float]:
    """Wall-clock times of the scheduled or commanded inventory passes a replica logged after `since`."""
    return [at.timestamp() for at, _ in log_entries(log, "inventory synced") if at.timestamp() >= since]


async def _synced_events(bootstrap: str, topic: str) -> list[float]:
    """Broker timestamps (s) of the InventorySynced records on the inventory topic."""
    records = await read_until(bootstrap, topic, bool, settle=1.0)
    return [r.timestamp / 1000 for r in records if r.key is not None and r.key.endswith(b"/_sync")]


async def test_one_replica_runs_the_inventory_schedule_and_another_takes_over_when_it_dies(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    private = load_private_key(generate_private_key())
    connector_id = f"inv-{uuid.uuid4().hex[:6]}"
    config = write_connector_yaml(
        tmp_path,
        public_key_of(private),
        [{"id": "bench", "type": "noop", "templates": ["access"], "connection": {}}],
        connector_id,
    )
    prefix = unique_prefix("inv")
    env = {
        "LATCHKEY_INVENTORY_INTERVAL_SECONDS": str(INTERVAL),
        "LATCHKEY_SESSION_TIMEOUT_MS": "6000",
        "LATCHKEY_HEARTBEAT_INTERVAL_MS": "1000",
    }
    replicas = [
        ConnectorProcess(config, kafka_bootstrap, prefix, tmp_path / f"r{i}.log", name=f"r{i}", env=env)
        for i in range(3)
    ]
    inventory_topic = f"{prefix}{INVENTORY.name}"
    try:
        for replica in replicas:
            replica.start()
        await asyncio.gather(*(asyncio.to_thread(r.wait_ready) for r in replicas))
        await asyncio.sleep(3)  # the joins' rebalances settle; each may have led for a moment
        settled = time.time()
        await asyncio.sleep(4 * INTERVAL)
        window_end = time.time()
        passes = {r.name: _inventory_passes(r.logs(), settled) for r in replicas}
        leaders = [name for name, times in passes.items() if times]
        assert len(leaders) == 1, f"scheduled inventory passes by {leaders} (one replica should run them)"
        [leader] = leaders
        assert len(passes[leader]) >= 2, passes
        # On the topic too: as many InventorySynced as the leader's passes, not one per replica (±1 for
        # a pass at either edge of the window, stamped by the broker just before the replica logged it).
        synced = await _synced_events(kafka_bootstrap, inventory_topic)
        published = [t for t in synced if settled <= t < window_end]
        assert abs(len(published) - len(passes[leader])) <= 1, (published, passes)

        victim = next(r for r in replicas if r.name == leader)
        victim.kill()
        killed = time.time()
        survivors = [r for r in replicas if r is not victim]
        deadline = killed + 6 + 30
        while not any(_inventory_passes(r.logs(), killed) for r in survivors):
            assert time.time() < deadline, "no surviving replica took over the inventory schedule"
            await asyncio.sleep(0.2)
        await asyncio.sleep(3 * INTERVAL)
        after = {r.name: _inventory_passes(r.logs(), killed) for r in survivors}
        assert len([name for name, times in after.items() if times]) == 1, after
    finally:
        for replica in replicas:
            replica.stop(timeout=10)


INTERVAL = 1.0
