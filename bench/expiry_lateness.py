"""How late does access end? Lateness from a grant's due time to its `timer.fired` on Kafka.

N active grants (100,000; quick: 4,000) whose ends are spread over 60 s (quick: 5 s) are fed to expiry
**as lifecycle events** (GrantActivated on `access.lifecycle.v1`, as flow-engine publishes them), so
the service ingests them while it fires: the consumer, the timer table, the firing loop and the
outbox relay are all on the measured path. Expiry runs as real `python -m latchkey.expiry`
processes, once with 1 replica and once with 2 (same database). Lateness = arrival of TimerFired at
a plain consumer minus `due_at`. Peak RSS (VmHWM) of each service process is read from /proc.
Baseline: raw aiokafka produce→consume latency (one message in flight) on the same broker, same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from latchkey.contracts import LIFECYCLE, TIMERS, GrantActivated, RequestCreated, TimerFired
from latchkey.runtime import ServiceSettings, ensure_topics, make_producer
from latchkey.runtime.testing import create_database, drop_database, libpq_url, sqlalchemy_url, unique_prefix

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (python bench/expiry_lateness.py)
    sys.path.insert(0, str(ROOT))

from bench.kafka_baseline import percentile  # noqa: E402

TARGET_P99_MS = 1000.0


def _start_replicas(settings: ServiceSettings, replicas: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "LATCHKEY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "LATCHKEY_DATABASE_URL": settings.sync_database_url,
        "LATCHKEY_TOPIC_PREFIX": settings.topic_prefix,
        "LATCHKEY_HEALTH_PORT": "0",
        "LATCHKEY_LOG_LEVEL": "WARNING",
        "LATCHKEY_REMINDER_LEAD_SECONDS": "0",  # ends only: one timer per grant
    }
    return [
        subprocess.Popen(
            [sys.executable, "-m", "latchkey.expiry", "run"],
            env={**env, "LATCHKEY_INSTANCE_ID": f"bench-{i}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(replicas)
    ]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _count(database_url: str, where: str) -> int:
    try:
        with psycopg.connect(libpq_url(database_url)) as conn:
            row = conn.execute(f"SELECT count(*) FROM expiry.timers WHERE {where}").fetchone()
            return int(row[0]) if row else 0
    except psycopg.errors.UndefinedTable:
        return 0


async def _wait_consuming(
    settings: ServiceSettings, producer: AIOKafkaProducer, timeout: float = 180
) -> None:
    """Until the replicas' consumer group has joined: a probe request's timer appears in the table."""
    probe = f"probe-{uuid.uuid4()}"
    event = RequestCreated(
        request_id=probe,
        requester_id="bench",
        integration_id="bench",
        resource="bench",
        permission="bench",
        duration_seconds=1,
        flow_name="bench",
        automatic=False,
        approval_deadline=datetime.now(UTC) + timedelta(days=1),
    )
    await producer.send_and_wait(
        settings.topic(LIFECYCLE.name), event.model_dump_json().encode(), key=probe.encode()
    )
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(_count, settings.sync_database_url, f"request_id = '{probe}'") == 0:
        if time.monotonic() > deadline:
            raise TimeoutError("expiry did not start consuming")
        await asyncio.sleep(0.25)


async def _scenario(
    bootstrap: str,
    admin_url: str,
    grants: int,
    spread: float,
    replicas: int,
    tail: float = 120,
    min_lead: float = 10.0,
) -> dict[str, Any]:
    name = f"bench_expiry_{uuid.uuid4().hex[:8]}"
    database_url = sqlalchemy_url(create_database(libpq_url(admin_url), name))
    settings = ServiceSettings(
        kafka_bootstrap=bootstrap, database_url=database_url, topic_prefix=unique_prefix("bench-")
    )
    await ensure_topics(settings, [LIFECYCLE, TIMERS])
    processes = _start_replicas(settings, replicas)
    producer = make_producer(settings, linger_ms=20)
    sink = AIOKafkaConsumer(
        bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, fetch_max_wait_ms=5
    )
    try:
        await producer.start()
        await sink.start()
        partitions = [TopicPartition(settings.topic(TIMERS.name), p) for p in range(TIMERS.partitions)]
        sink.assign(partitions)
        await sink.seek_to_end(*partitions)
        started = time.monotonic()
        await _wait_consuming(settings, producer)
        startup_s = time.monotonic() - started

        # Ends start after a lead long enough to publish and ingest the grants (measured, reported).
        lead = max(min_lead, grants / 1_000)
        first_due = datetime.now(UTC) + timedelta(seconds=lead)
        due_at = {}
        topic = settings.topic(LIFECYCLE.name)
        published = time.monotonic()
        futures = []
        for i in range(grants):
            request = f"g{i:06d}-{uuid.uuid4().hex[:8]}"
            expires_at = first_due + timedelta(seconds=spread * i / grants)
            due_at[request] = expires_at
            event = GrantActivated(
                producer="bench",
                request_id=request,
                requester_id="bench",
                connector_id="noop",
                integration_id="noop",
                expires_at=expires_at,
            )
            futures.append(await producer.send(topic, event.model_dump_json().encode(), key=request.encode()))
        await asyncio.gather(*futures)
        publish_s = time.monotonic() - published

        lateness_ms: list[float] = []
        relayed_ms: list[float] = []
        seen: set[str] = set()
        scheduled_share: float | None = None
        deadline = time.monotonic() + lead + spread + tail
        while len(seen) < grants and time.monotonic() < deadline:
            batch = await sink.getmany(timeout_ms=100, max_records=10_000)
            arrived = datetime.now(UTC)
            for records in batch.values():
                for record in records:
                    fired = TIMERS.parse(record.value)
                    if (
                        not isinstance(fired, TimerFired)
                        or fired.request_id not in due_at
                        or fired.request_id in seen
                    ):
                        continue
                    seen.add(fired.request_id)
                    lateness_ms.append((arrived - due_at[fired.request_id]).total_seconds() * 1000)
                    # made in the firing transaction → handed to the producer by the relay (the
                    # record's create time); relayed rows are deleted, so the topic is the record
                    relayed_ms.append(record.timestamp - fired.occurred_at.timestamp() * 1000)
            if scheduled_share is None and datetime.now(UTC) >= first_due:
                # how many grants had been scheduled when the first one came due
                scheduled = await asyncio.to_thread(_count, database_url, "request_id LIKE 'g%'")
                scheduled_share = scheduled / grants
        rss = [_peak_rss_mb(p.pid) for p in processes]
        stages = await asyncio.to_thread(_stage_lateness, database_url)
        return {
            "replicas": replicas,
            "received": len(seen),
            "lost": grants - len(seen),
            "p50_ms": percentile(lateness_ms, 50),
            "p99_ms": percentile(lateness_ms, 99),
            "max_ms": max(lateness_ms, default=float("nan")),
            "early": sum(1 for v in lateness_ms if v < 0),
            "lead_s": lead,
            "publish_s": publish_s,
            "startup_s": startup_s,
            "scheduled_share_at_first_due": scheduled_share,
            "peak_rss_mb": rss,
            **stages,
            "outbox_to_sent_p50_ms": percentile(relayed_ms, 50),
            "outbox_to_sent_p99_ms": percentile(relayed_ms, 99),
            "outbox_to_sent_max_ms": max(relayed_ms, default=float("nan")),
            "samples": lateness_ms,
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        await sink.stop()
        await producer.stop()
        drop_database(libpq_url(admin_url), name)


def _stage_lateness(database_url: str) -> dict[str, float]:
    """Where the time goes: due → marked fired (firing loop; the relay's part is measured off the
    topic); and how many grants were only ingested after their end was already due (ingest lag, not
    firing lag)."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        late = conn.execute(
            "SELECT count(*) FROM expiry.timers WHERE request_id LIKE 'g%' AND created_at > due_at"
        ).fetchone()
        fire = conn.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.99]) WITHIN GROUP"
            " (ORDER BY extract(epoch FROM fired_at - due_at)),"
            " max(extract(epoch FROM fired_at - due_at)) FROM expiry.timers WHERE request_id LIKE 'g%'"
        ).fetchone()
    assert fire is not None and late is not None
    return {
        "scheduled_after_due": int(late[0]),
        "due_to_fired_p50_ms": float(fire[0][0]) * 1000,
        "due_to_fired_p99_ms": float(fire[0][1]) * 1000,
        "due_to_fired_max_ms": float(fire[1]) * 1000,
    }


async def _kafka_baseline(bootstrap: str, count: int) -> list[float]:
    """Raw produce→consume latency, one message in flight, services' producer settings."""
    settings = ServiceSettings(kafka_bootstrap=bootstrap, topic_prefix=unique_prefix("bench-"))
    await ensure_topics(settings, [TIMERS], with_dead_letters=False)
    topic = settings.topic(TIMERS.name)
    producer = make_producer(settings)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, fetch_max_wait_ms=5
    )
    await producer.start()
    await consumer.start()
    partitions = [TopicPartition(topic, p) for p in range(TIMERS.partitions)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    latencies: list[float] = []
    try:
        for i in range(count):
            sent = time.perf_counter()
            await producer.send_and_wait(topic, b"x" * 400, key=str(i).encode())
            while not await consumer.getmany(timeout_ms=1000):
                pass
            latencies.append((time.perf_counter() - sent) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies


def _thin(samples: list[float], keep: int = 5_000) -> list[float]:
    """Every n-th sample, in arrival order, so the results file stays small enough to plot."""
    step = max(1, len(samples) // keep)
    return samples[::step]


def run(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    grants = 4_000 if quick else 100_000
    spread = 5.0 if quick else 60.0
    lead = 4.0 if quick else 10.0  # the least time between publishing the grants and the first end
    baseline = asyncio.run(_kafka_baseline(bootstrap, 100 if quick else 500))
    tail = 30.0 if quick else 120.0  # how long after the last due time to wait for stragglers
    one = asyncio.run(_scenario(bootstrap, database_url, grants, spread, 1, tail, lead))
    two = asyncio.run(_scenario(bootstrap, database_url, grants, spread, 2, tail, lead))
    baseline_p99 = percentile(baseline, 99)
    metrics = {
        "p50_ms": one["p50_ms"],
        "p99_ms": one["p99_ms"],
        "max_ms": one["max_ms"],
        "lost": one["lost"],
        "peak_rss_mb": max(one["peak_rss_mb"]),
        "replicas2_p50_ms": two["p50_ms"],
        "replicas2_p99_ms": two["p99_ms"],
        "replicas2_max_ms": two["max_ms"],
        "replicas2_lost": two["lost"],
        "replicas2_peak_rss_mb": max(two["peak_rss_mb"]),
        "target_p99_ms": TARGET_P99_MS,
        "meets_target": one["p99_ms"] <= TARGET_P99_MS and two["p99_ms"] <= TARGET_P99_MS,
    }
    details = {k: {x: v for x, v in s.items() if x != "samples"} for k, s in (("1", one), ("2", two))}
    return {
        "name": "expiry_lateness",
        "params": {
            "grants": grants,
            "spread_s": spread,
            "fed_via": "GrantActivated events on access.lifecycle.v1 (consumed while firing)",
            "replicas": [1, 2],
            "reminders": "off (LATCHKEY_REMINDER_LEAD_SECONDS=0): one timer per grant",
            "runs": details,
        },
        "metrics": {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()},
        "baseline": {
            "kafka_produce_consume_p50_ms": round(percentile(baseline, 50), 3),
            "kafka_produce_consume_p99_ms": round(baseline_p99, 3),
        },
        "ratio": round(one["p99_ms"] / baseline_p99, 2) if baseline_p99 else None,
        "samples": {"lateness_ms": {"1 replica": _thin(one["samples"]), "2 replicas": _thin(two["samples"])}},
    }


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    result = run(
        os.environ.get("LATCHKEY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        os.environ.get("LATCHKEY_DATABASE_URL", "postgresql://latchkey:latchkey@127.0.0.1:5432/latchkey"),
        quick,
    )
    out = Path(__file__).parent / "results" / "expiry_lateness.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2, default=str))
