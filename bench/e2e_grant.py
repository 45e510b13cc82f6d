"""Request → grant active, through the real system: identity-sync, flow-engine, expiry and a connector
as separate processes on one broker and one PostgreSQL server.

For the `noop` integration (no target I/O: the cost of Latchkey itself) and the PostgreSQL integration
(a real login role created per grant, credentials sealed to the requester):
1. max throughput: a burst of automatic requests, grants activated per second until the last;
2. latency at half of that rate: an open-loop stream, per request the time from publishing
   `access.request.submitted` to reading `access.grant.activated` on the lifecycle topic, and the
   CPU each process spent per grant meanwhile (/proc: the services, and the Kafka broker, the
   PostgreSQL server and this load generator when they run on this machine; in the burst too);
   the same for a slow stream (noop, 100 grants/s), where every batch holds one or two records;
3. (noop) how late access ends: short grants, from each grant's `expires_at` to its
   `access.grant.revoked` (written when flow-engine applies the connector's revoke result).
The ratio compares p50 with the raw 4-hop Kafka chain of kafka_baseline (same broker, same run).
BENCH_E2E_DUMP=<path> also writes every stream's per-request latencies, in sending order, to <path>;
BENCH_E2E_RATE=<grants/s> runs the noop steady stream at that rate instead of half the burst's (to
compare code at one rate: the burst's rate moves with the machine).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.kafka_baseline import percentile  # noqa: E402
from bench.proc import children_cpu_seconds, cpu_seconds, listening_pid  # noqa: E402
from latchkey.contracts import REQUESTS, RequestSubmitted, uuid7  # noqa: E402
from latchkey.runtime.testing import libpq_url  # noqa: E402
from tests.support.bus import TopicReader, acknowledged  # noqa: E402
from tests.support.scenario import ALICE, RunningLatchkey, latchkey_running  # noqa: E402
from tests.support.system import Requester  # noqa: E402

SLOW_RATE = 100.0  # grants/s of the slow steady stream
WARM_UP = {False: 1000, True: 100}  # grants of the unmeasured warm-up burst (full run, quick run)
FAILED = {"access.grant.failed", "access.request.denied", "access.request.rejected"}


def _epoch(timestamp: str) -> float:
    """An event's ISO 8601 timestamp as epoch seconds."""
    return datetime.fromisoformat(timestamp).timestamp()


class Tracker:
    """Follows the lifecycle topic and times each request from submission to activation.

    Records are read raw and only those of the requests followed here are decoded, as plain JSON (no
    model validation): validating every lifecycle event was half of this load generator's CPU at a few
    hundred grants a second, taken from the two cores the system under test runs on."""

    def __init__(self, reader: TopicReader) -> None:
        self.reader = reader
        self.submitted: dict[str, float] = {}
        self.activated: dict[str, float] = {}
        self.failed: dict[str, str] = {}
        self.expires_at: dict[str, float] = {}  # epoch seconds, from access.grant.activated
        self.revoked_wall: dict[str, float] = {}  # epoch seconds this reader saw access.grant.revoked
        self.revoking_at: dict[str, float] = {}  # when flow-engine sent the revoke (its occurred_at)
        self.occurred: dict[str, dict[str, float]] = {}  # request id → event type → occurred_at (epoch s)
        self.activated_record_at: dict[str, float] = {}  # the activation record's timestamp (epoch s)

    async def pump(self, timeout_ms: int = 50) -> None:
        records = await self.reader.poll_raw(timeout_ms)
        received = time.monotonic()
        for record in records:
            key = record.key.decode() if record.key is not None else None
            if key not in self.submitted or record.value is None:
                continue
            event = json.loads(record.value)
            kind = event.get("type")
            story = self.occurred.setdefault(key, {})
            story.setdefault(kind, _epoch(event["occurred_at"]))
            if kind == "access.grant.activated":
                self.activated.setdefault(key, received)
                self.activated_record_at.setdefault(key, record.timestamp / 1000)
                self.expires_at.setdefault(key, _epoch(event["expires_at"]))
            elif kind == "access.grant.revoking":
                self.revoking_at.setdefault(key, story[kind])
            elif kind == "access.grant.revoked":
                self.revoked_wall.setdefault(key, time.time() - (time.monotonic() - received))
            elif kind in FAILED and key not in self.failed:
                self.failed[key] = f"{kind}: {event.get('reason', '')}"

    def done(self, ids: list[str]) -> bool:
        return all(i in self.activated or i in self.failed for i in ids)

    async def wait(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.done(ids) and time.monotonic() < deadline:
            await self.pump()

    def latencies_ms(self, ids: list[str]) -> list[float]:
        return [(self.activated[i] - self.submitted[i]) * 1000 for i in ids if i in self.activated]


def _encoded(events: list[RequestSubmitted]) -> list[tuple[str, bytes, bytes]]:
    """(request id, record key, record value) of each request, ready to send."""
    return [(e.request_id, REQUESTS.key_of(e).encode(), e.model_dump_json().encode()) for e in events]


def _request(
    running: RunningLatchkey,
    token: str,
    kind: str,
    requester: Requester | None,
    duration_seconds: int = 3600,
) -> RequestSubmitted:
    request_id = str(uuid7())
    if kind == "noop":
        integration, resource, permission = running.system.noop_integration_id, "noop-resource", "access"
    else:
        integration, resource, permission = running.system.integration_id, running.resource, "readonly"
    return RequestSubmitted(
        request_id=request_id,
        id_token=token,  # a frontend reuses the session's ID token for every request
        integration_id=integration,
        resource=resource,
        permission=permission,
        duration_seconds=duration_seconds,
        justification="benchmark",
        requester_public_key=requester.public_key if requester else None,
        producer="bench",
        correlation_id=request_id,
    )


async def _burst(
    running: RunningLatchkey, cpu: Cpu, tracker: Tracker, kind: str, count: int, token: str
) -> dict[str, Any]:
    requester = Requester(*ALICE) if kind == "postgresql" else None
    burst = _encoded([_request(running, token, kind, requester) for _ in range(count)])
    ids = [request_id for request_id, _, _ in burst]
    cpu_before = cpu.everything()
    t0 = time.monotonic()
    for request_id in ids:
        tracker.submitted[request_id] = t0
    sent = [await running.publisher.send_encoded(REQUESTS, key, value) for _, key, value in burst]
    await acknowledged(sent)
    await tracker.wait(ids, timeout=60 + count / 20)
    by_process = Cpu.per_grant_ms(cpu_before, cpu.everything(), count)
    done = [tracker.activated[i] for i in ids if i in tracker.activated]
    elapsed = (max(done) - t0) if done else float("nan")
    per_second: dict[int, int] = {}
    for at in done:
        per_second[int(at - t0)] = per_second.get(int(at - t0), 0) + 1
    return {
        "count": count,
        "activated": len(done),
        "failed": len([i for i in ids if i in tracker.failed]),
        "failures": sorted({tracker.failed[i] for i in ids if i in tracker.failed})[:3],
        "seconds": elapsed,
        "per_s": len(done) / elapsed if done and elapsed > 0 else 0.0,
        "series": sorted(per_second.items()),
        "cpu_ms_per_grant_by_process": by_process,
    }


class Cpu:
    """CPU seconds used so far by each process of the run: the services; the Kafka broker(s) and the
    PostgreSQL server with its backends when they run on this machine (found by their listening
    ports; not under Docker); and this load generator."""

    def __init__(self, running: RunningLatchkey, database_url: str) -> None:
        self.running = running
        self.servers: dict[str, Callable[[], float]] = {}  # name → its CPU seconds so far
        brokers = {listening_pid(int(a.rsplit(":", 1)[1])) for a in running.bootstrap.split(",")}
        for n, pid in enumerate(sorted(p for p in brokers if p is not None)):
            self.servers["kafka" if n == 0 else f"kafka-{n + 1}"] = functools.partial(cpu_seconds, pid)
        postgresql = listening_pid(urlsplit(libpq_url(database_url)).port or 5432)
        if postgresql is not None:  # one backend process per connection
            self.servers["postgresql"] = functools.partial(children_cpu_seconds, postgresql)

    def services(self) -> dict[str, float]:
        return {
            name: cpu_seconds(process.pid)
            for name, process in self.running.services.processes.items()
            if process.pid is not None and process.running
        }

    def everything(self) -> dict[str, float]:
        used = self.services()
        for name, seconds in self.servers.items():
            used[name] = seconds()
        used["load generator"] = cpu_seconds(os.getpid())
        return used

    @staticmethod
    def per_grant_ms(before: dict[str, float], after: dict[str, float], grants: int) -> dict[str, float]:
        return {
            name: round((used - before.get(name, 0.0)) / grants * 1000, 2) for name, used in after.items()
        }


async def _steady(
    running: RunningLatchkey, cpu: Cpu, tracker: Tracker, kind: str, rate: float, seconds: float, token: str
) -> dict[str, Any]:
    """Open loop: publish at `rate`/s for `seconds` whatever the system does (no coordinated omission).
    The requests are made and encoded before the clock starts; only sending them is timed."""
    requester = Requester(*ALICE) if kind == "postgresql" else None
    stream = _encoded([_request(running, token, kind, requester) for _ in range(int(rate * seconds) + 1)])
    ids: list[str] = []
    cpu_before = cpu.everything()
    interval = 1.0 / rate
    t0 = time.monotonic()
    sent: list[asyncio.Future[Any]] = []
    while time.monotonic() - t0 < seconds and len(ids) < len(stream):
        due = min(len(stream), int((time.monotonic() - t0) / interval) + 1)
        for request_id, key, value in stream[len(ids) : due]:
            tracker.submitted[request_id] = time.monotonic()
            # not waiting for each acknowledgement: at a few hundred per second that alone would
            # fall behind the schedule
            sent.append(await running.publisher.send_encoded(REQUESTS, key, value))
            ids.append(request_id)
        await tracker.pump(timeout_ms=5)
    await acknowledged(sent)
    await tracker.wait(ids, timeout=60)
    by_process = Cpu.per_grant_ms(cpu_before, cpu.everything(), len(ids))
    cpu_ms = {name: ms for name, ms in by_process.items() if name in running.services.processes}
    latencies = tracker.latencies_ms(ids)
    return {
        "rate_per_s": rate,
        "cpu_ms_per_grant": round(sum(cpu_ms.values()), 2),
        "cpu_ms_per_grant_by_service": cpu_ms,
        "cpu_ms_per_grant_by_process": by_process,
        "sent": len(ids),
        "activated": len(latencies),
        "failed": len([i for i in ids if i in tracker.failed]),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
        "latencies": latencies,
    }


async def _revoke_lateness(
    running: RunningLatchkey, tracker: Tracker, count: int, duration: int, token: str
) -> dict[str, Any]:
    """`count` noop grants of `duration` s at once; per grant, how late access really ended: from its
    `expires_at` to `access.grant.revoked` on the lifecycle topic, which flow-engine writes when it
    applies the connector's revoke result (expiry's timer → flow-engine → connector → result)."""
    events = [_request(running, token, "noop", None, duration) for _ in range(count)]
    ids = [e.request_id for e in events]
    for e in events:
        tracker.submitted[e.request_id] = time.monotonic()
    await running.publisher.publish_many(REQUESTS, events)
    deadline = time.monotonic() + duration + 90
    while time.monotonic() < deadline and not all(
        i in tracker.revoked_wall or i in tracker.failed for i in ids
    ):
        await tracker.pump()
    lateness = [
        (tracker.revoked_wall[i] - tracker.expires_at[i]) * 1000
        for i in ids
        if i in tracker.revoked_wall and i in tracker.expires_at
    ]
    to_command = [
        (tracker.revoking_at[i] - tracker.expires_at[i]) * 1000
        for i in ids
        if i in tracker.revoking_at and i in tracker.expires_at
    ]
    return {
        "count": count,
        "duration_s": duration,
        "revoked": len(lateness),
        "to_revoke_command_p50_ms": percentile(to_command, 50),
        "p50_ms": percentile(lateness, 50),
        "p99_ms": percentile(lateness, 99),
        "max_ms": max(lateness) if lateness else float("nan"),
        "latencies": lateness,
    }


def _chain_baseline() -> dict[str, float] | None:
    path = ROOT / "bench" / "results" / "kafka_baseline.json"
    if not path.exists():
        return None
    metrics = json.loads(path.read_text()).get("metrics", {})
    return {k: metrics[k] for k in ("chain4_p50_ms", "chain4_p99_ms") if k in metrics} or None


def system(bootstrap: str, database_url: str, work: Path) -> AbstractAsyncContextManager[RunningLatchkey]:
    """The four services as processes on this broker and server (quiet logs), as the benchmarks run it."""
    return latchkey_running(
        kafka_bootstrap=bootstrap,
        admin_database_url=libpq_url(database_url),
        work_dir=work,
        extra_env={"LATCHKEY_LOG_LEVEL": "WARNING"},
    )


async def _main(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    sizes = (
        {"noop": (300, 6.0), "postgresql": (40, 4.0)}
        if quick
        else {"noop": (3000, 30.0), "postgresql": (300, 20.0)}
    )
    revoke_size = (200, 5) if quick else (1000, 15)  # grants, seconds each
    metrics: dict[str, Any] = {}
    samples: dict[str, Any] = {"latency_ms": {}, "throughput": {}}
    params: dict[str, Any] = {"sizes": {k: {"burst": v[0], "steady_seconds": v[1]} for k, v in sizes.items()}}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as work:
        async with system(bootstrap, database_url, Path(work)) as running:
            token = running.token(ALICE, expires_in=3600)
            tracker = Tracker(running.lifecycle)
            cpu = Cpu(running, database_url)
            # Warm-up, unmeasured, as a running system is warm: the broker's JIT (a fresh JVM compiles
            # the group, fetch-session and offset paths the services use while the burst runs: Kafka
            # cost 0.32 ms of CPU per grant in a burst right after start, 0.08 ms once warm), the
            # services' caches, connections and fetch sessions, PostgreSQL's statistics and plans.
            await _burst(running, cpu, tracker, "noop", WARM_UP[quick], token)
            roles: list[str] = []
            for kind, (count, seconds) in sizes.items():
                burst = await _burst(running, cpu, tracker, kind, count, token)
                rate = max(1.0, burst["per_s"] / 2)
                if kind == "noop" and os.environ.get("BENCH_E2E_RATE"):
                    rate = float(os.environ["BENCH_E2E_RATE"])
                    params["noop_steady_rate_fixed"] = rate
                steady = await _steady(running, cpu, tracker, kind, rate, seconds, token)
                metrics[f"{kind}_max_grants_per_s"] = round(burst["per_s"], 1)
                metrics[f"{kind}_burst_failed"] = burst["failed"]
                metrics[f"{kind}_half_rate_per_s"] = round(rate, 1)
                metrics[f"{kind}_p50_ms"] = round(steady["p50_ms"], 1)
                metrics[f"{kind}_p99_ms"] = round(steady["p99_ms"], 1)
                metrics[f"{kind}_steady_failed"] = steady["failed"]
                # the services' CPU per grant in the stream (not Kafka's, PostgreSQL's or this process's)
                metrics[f"{kind}_half_rate_cpu_ms_per_grant"] = steady["cpu_ms_per_grant"]
                metrics[f"{kind}_half_rate_cpu_ms_per_grant_by_service"] = steady[
                    "cpu_ms_per_grant_by_service"
                ]
                # every process's CPU per grant, the servers' and the load generator's too: the
                # burst is CPU-bound, and this says whose CPU
                metrics[f"{kind}_burst_cpu_ms_per_grant_by_process"] = burst["cpu_ms_per_grant_by_process"]
                metrics[f"{kind}_burst_cpu_ms_per_grant_all"] = round(
                    sum(burst["cpu_ms_per_grant_by_process"].values()), 2
                )
                metrics[f"{kind}_half_rate_cpu_ms_per_grant_by_process"] = steady[
                    "cpu_ms_per_grant_by_process"
                ]
                failures = burst["failures"] or [tracker.failed[i] for i in tracker.failed][:1]
                if burst["failed"] or steady["failed"]:
                    metrics[f"{kind}_failure_example"] = failures[0][:200] if failures else "?"
                samples["latency_ms"][f"{kind} @ {rate:.0f}/s"] = steady["latencies"]
                samples["throughput"][f"{kind} burst of {count}"] = burst["series"]
                if kind == "postgresql":
                    assert running.system.target is not None
                    roles = running.system.target.login_roles()
            # A slow steady stream: batches of one or two records, so what each batch and each hop
            # costs shows (CPU per grant here against the half-rate stream's).
            slow = await _steady(running, cpu, tracker, "noop", SLOW_RATE, 3.0 if quick else 8.0, token)
            metrics["noop_at_100_per_s_p50_ms"] = round(slow["p50_ms"], 1)
            metrics["noop_at_100_per_s_p99_ms"] = round(slow["p99_ms"], 1)
            metrics["noop_at_100_per_s_failed"] = slow["failed"]
            metrics["noop_at_100_per_s_cpu_ms_per_grant"] = slow["cpu_ms_per_grant"]
            metrics["noop_at_100_per_s_cpu_ms_per_grant_by_service"] = slow["cpu_ms_per_grant_by_service"]
            metrics["noop_at_100_per_s_cpu_ms_per_grant_by_process"] = slow["cpu_ms_per_grant_by_process"]
            ending = await _revoke_lateness(running, tracker, *revoke_size, token)
            metrics["noop_revoke_lateness_p50_ms"] = round(ending["p50_ms"], 1)
            metrics["noop_revoke_lateness_p99_ms"] = round(ending["p99_ms"], 1)
            metrics["noop_revoke_lateness_max_ms"] = round(ending["max_ms"], 1)
            metrics["noop_revoke_not_confirmed"] = ending["count"] - ending["revoked"]
            # the part up to flow-engine sending the revoke command (expiry's timer + flow-engine)
            metrics["noop_expiry_to_revoke_command_p50_ms"] = round(ending["to_revoke_command_p50_ms"], 1)
            samples["latency_ms"][f"revoke lateness, {ending['count']} grants"] = ending["latencies"]
            params["revoke_lateness"] = {"grants": ending["count"], "duration_s": ending["duration_s"]}
            running.system.cleanup(roles)
    failed = {
        k: v for k, v in metrics.items() if (k.endswith("_failed") or k.endswith("_not_confirmed")) and v
    }
    error = None
    if failed:
        # Zero loss is a target: a run where grants failed is reported as failed, with its numbers.
        example = metrics.get("noop_failure_example") or metrics.get("postgresql_failure_example")
        error = f"grants failed {failed}; e.g. {example}"
    baseline = _chain_baseline()
    ratio = None
    if baseline and metrics.get("noop_p50_ms") == metrics.get("noop_p50_ms"):  # not NaN
        ratio = {
            "noop_p50_vs_chain4_p50": round(metrics["noop_p50_ms"] / baseline["chain4_p50_ms"], 2),
            "postgresql_p50_vs_chain4_p50": round(
                metrics["postgresql_p50_ms"] / baseline["chain4_p50_ms"], 2
            ),
        }
    if os.environ.get("BENCH_E2E_DUMP"):
        Path(os.environ["BENCH_E2E_DUMP"]).write_text(json.dumps(samples))
    return {
        "name": "e2e_grant",
        **({"error": error} if error else {}),
        "params": params,
        "metrics": metrics,
        "baseline": baseline,
        "ratio": ratio,
        "targets": {"noop_max_grants_per_s": ">= 1000", "noop_p50_vs_chain4_p50": "<= 5"},
        "samples": samples,
    }


def run(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    return asyncio.run(_main(bootstrap, database_url, quick))
