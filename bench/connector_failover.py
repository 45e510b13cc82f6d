"""Connector failover: three replicas share a consumer group; one is kill -9'd mid-stream. Measured:
time from the kill until the last command of the dead replica's partitions has its result elsewhere.

Baseline: the configured consumer-group session timeout (the time the coordinator needs to declare
the replica dead); `ratio` = failover time ÷ session timeout (≥ 1: detection, then a rebalance, the
results-ledger catch-up and the redelivered batch).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from latchkey.connector.testing import failover_scenario


def run(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    commands = 150 if quick else 300
    session_timeout_ms = 6_000
    with tempfile.TemporaryDirectory() as tmp:
        report = asyncio.run(
            failover_scenario(
                bootstrap,
                Path(tmp),
                commands=commands,
                replicas=3,
                delay_ms=30,
                session_timeout_ms=session_timeout_ms,
                heartbeat_interval_ms=1_000,
            )
        )
    duplicates = sum(1 for n in report.results_per_command.values() if n != 1)
    re_executed = sum(n - 1 for n in report.journal_grants.values() if n > 1)
    if duplicates or any(n == 0 for n in report.journal_grants.values()):
        raise AssertionError(f"{duplicates} commands without exactly one result")
    return {
        "name": "connector_failover",
        "params": {
            "commands": commands,
            "replicas": 3,
            "noop_delay_ms": 30,
            "session_timeout_ms": session_timeout_ms,
            "heartbeat_interval_ms": 1_000,
        },
        "metrics": {
            "failover_s": round(report.failover_seconds, 2),
            "total_s": round(report.total_seconds, 2),
            "commands_with_one_result": sum(1 for n in report.results_per_command.values() if n == 1),
            "re_executed_on_target": re_executed,
            "redeliveries_deduplicated": report.redelivered_commands,
        },
        "baseline": {"session_timeout_s": session_timeout_ms / 1000},
        "ratio": round(report.failover_seconds / (session_timeout_ms / 1000), 2),
        "samples": {
            # the failover timeline: results per second from each replica, the kill and the last
            # result for the dead replica's partitions
            "timeline": [
                [round(report.killed_after_seconds, 2), f"kill -9 {report.killed}"],
                [
                    round(report.killed_after_seconds + report.failover_seconds, 2),
                    "its partitions caught up",
                ],
            ],
            "timeline_series": _per_second(report.results, BUCKET_SECONDS),
        },
    }


BUCKET_SECONDS = 0.5


def _per_second(results: list[tuple[float, str]], bucket: float) -> dict[str, list[list[float]]]:
    """Results per second from each replica, in `bucket`-second steps (a step with none is 0)."""
    if not results:
        return {}
    steps = int(max(at for at, _ in results) // bucket) + 1
    counts: dict[str, list[int]] = {name: [0] * steps for _, name in sorted(results, key=lambda r: r[1])}
    for at, name in results:
        counts[name][int(at // bucket)] += 1
    return {
        name: [[round(i * bucket, 2), n / bucket] for i, n in enumerate(per_step)]
        for name, per_step in counts.items()
    }
