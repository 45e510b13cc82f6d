"""Three replicas of one connector on the real broker; one is kill -9'd in the middle of 300 commands.

What is guaranteed (docs/connector.md, "Delivery and replay"): every command gets exactly one
result on connector.results.v1; a command whose result was published before the crash is not run
again (the takeover replica reads the results topic first); a command the dead replica had applied
but not yet reported may be applied a second time by the takeover replica, which the idempotent
integration turns into the same target state.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from latchkey.connector.testing import failover_scenario

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
