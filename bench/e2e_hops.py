"""e2e_hops: where a grant's time goes, hop by hop, in a steady stream of automatic noop requests
through the real system (identity-sync, flow-engine, expiry and a connector as separate processes).

Each hop is measured from the events' own timestamps, so nothing here waits on this process:
1. request published (here) → decided (`access.request.created.occurred_at`, flow-engine);
2. decided → signed command on the connector's topic (the broker's append time: the command topic is
   switched to LogAppendTime for the run) — flow-engine's commit and outbox relay;
3. command on the topic → result made (`connector.command.applied.occurred_at`) — the connector's
   consumption, ownership check, verification and the noop target;
4. result made → result on the results topic (its record timestamp, the connector's producer);
5. result on the topic → grant active (`access.grant.activated.occurred_at`, flow-engine);
6. grant active → the activation on the lifecycle topic (broker append time, switched like the
   command topic's) — flow-engine's commit and outbox relay again. `e2e_grant` times up to reading it.
The ratio compares request → active p50 with kafka_baseline's raw 4-hop chain (same broker, same run).
Clocks: one machine, one clock. `BENCH_HOPS_RATE` (default 100/s) and `BENCH_HOPS_COUNT` change the
stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.e2e_grant import Tracker, _chain_baseline, _request, system  # noqa: E402
from bench.kafka_baseline import percentile  # noqa: E402
from latchkey.contracts import REQUESTS, RESULTS, connector_commands  # noqa: E402
from tests.support.bus import TopicReader, acknowledged  # noqa: E402
from tests.support.scenario import ALICE  # noqa: E402

NAME = "e2e_hops"
HOPS = (
    "request_to_decided",
    "decided_to_command_on_topic",
    "command_to_result",
    "result_to_topic",
    "result_to_active",
    "request_to_active",
    "active_to_lifecycle_topic",
    "request_to_active_on_topic",
)
WARM_UP = 20
"""Requests at the start of the stream left out (connections, caches and fetch sessions fill)."""


async def _append_time(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        config = {"message.timestamp.type": "LogAppendTime"}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=config)])
    finally:
        await admin.close()


async def _drain(reader: TopicReader) -> None:
    while await reader.poll(500):
        pass


async def _drain_tracker(tracker: Tracker) -> None:
    """Let the tracker read the lifecycle topic until nothing new comes for half a second."""
    seen = -1
    while seen != (now := sum(len(story) for story in tracker.occurred.values())):
        seen = now
        await tracker.pump(500)


async def _main(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    rate = float(os.environ.get("BENCH_HOPS_RATE", 100))
    count = int(os.environ.get("BENCH_HOPS_COUNT", 300 if quick else 1500))
    with tempfile.TemporaryDirectory(prefix="bench-hops-") as work:
        async with system(bootstrap, database_url, Path(work)) as running:
            commands_topic = running.prefix + connector_commands(running.system.connector_id).name
            await _append_time(running.bootstrap, commands_topic)
            await _append_time(running.bootstrap, running.lifecycle.name)
            token = running.token(ALICE, expires_in=3600)
            tracker = Tracker(running.lifecycle)
            results = TopicReader(running.bootstrap, running.prefix + RESULTS.name, RESULTS)
            commands = TopicReader(running.bootstrap, commands_topic, None)
            async with results, commands:
                events = [_request(running, token, "noop", None) for _ in range(count)]
                sent: dict[str, float] = {}
                pending: list[asyncio.Future[Any]] = []
                started = time.monotonic()
                for n, event in enumerate(events):
                    delay = started + n / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    sent[event.request_id] = time.time()
                    tracker.submitted[event.request_id] = time.monotonic()
                    pending.append(await running.publisher.send(REQUESTS, event))
                await acknowledged(pending)
                ids = [e.request_id for e in events]
                await tracker.wait(ids, 60)
                await _drain(results)
                await _drain(commands)
                await _drain_tracker(tracker)
            occurred = tracker.occurred
            command_at = {r.key: r.timestamp_ms / 1000 for r in reversed(commands.records)}
            made_at: dict[str, float] = {}
            result_at: dict[str, float] = {}
            for record in reversed(results.records):
                if record.key in sent and record.event is not None:
                    made_at[record.key] = record.event.occurred_at.timestamp()
                    result_at[record.key] = record.timestamp_ms / 1000
    hops: dict[str, list[float]] = {hop: [] for hop in HOPS}
    for request_id in ids[WARM_UP:]:
        story = occurred.get(request_id, {})
        decided, active = story.get("access.request.created"), story.get("access.grant.activated")
        on_topic = tracker.activated_record_at.get(request_id)
        if decided is None or active is None or on_topic is None:
            continue
        if request_id not in made_at or request_id not in command_at:
            continue
        spans = (
            decided - sent[request_id],
            command_at[request_id] - story.get("access.grant.requested", decided),
            made_at[request_id] - command_at[request_id],
            result_at[request_id] - made_at[request_id],
            active - result_at[request_id],
            active - sent[request_id],
            on_topic - active,
            on_topic - sent[request_id],
        )
        for hop, seconds in zip(HOPS, spans, strict=True):
            hops[hop].append(seconds * 1000)
    measured = len(hops["request_to_active"])
    metrics: dict[str, Any] = {"requests": count, "measured": measured, "rate_per_s": rate}
    for hop, values in hops.items():
        metrics[f"{hop}_p50_ms"] = round(percentile(values, 50), 1) if values else None
        metrics[f"{hop}_p90_ms"] = round(percentile(values, 90), 1) if values else None
    baseline = _chain_baseline()
    ratio = None
    if baseline and metrics["request_to_active_p50_ms"]:
        ratio = round(metrics["request_to_active_p50_ms"] / baseline["chain4_p50_ms"], 2)
    missing = count - WARM_UP - measured
    return {
        "name": NAME,
        **({"error": f"{missing} requests have no complete story"} if missing else {}),
        "params": {"rate_per_s": rate, "requests": count, "warm_up": WARM_UP},
        "metrics": metrics,
        "baseline": baseline,
        "ratio": ratio,
        "samples": {"latency_ms": {f"{hop} @ {rate:.0f}/s": hops[hop] for hop in HOPS}},
    }


def run(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    return asyncio.run(_main(bootstrap, database_url, quick))


if __name__ == "__main__":
    print(
        json.dumps(
            run(
                os.environ.get("LATCHKEY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
                os.environ.get(
                    "LATCHKEY_DATABASE_URL", "postgresql+psycopg://latchkey:latchkey@127.0.0.1:5432/latchkey"
                ),
                quick=True,
            )["metrics"],
            indent=2,
        )
    )
