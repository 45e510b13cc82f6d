"""flow_engine_throughput: requests decided per second by flow-engine for an automatic Access Flow
(request event in → signed grant command out on the connector's topic), with decision latency, against
raw aiokafka produce→consume throughput on the same broker in the same run.

`run(bootstrap, database_url, quick)` is what `make bench` calls; `python bench/flow_engine_throughput.py`
runs it against LATCHKEY_KAFKA_BOOTSTRAP / LATCHKEY_DATABASE_URL. flow-engine runs as a subprocess
(its own interpreter, as deployed); the load generator and the measuring consumer run here.
Use a scratch database: flow-engine creates its `flow_engine` schema in it.
After the burst, two steady streams measure latency: `half_target_*` at half the 2,000 decisions/s the
issue sets as the target (1,000/s, the operating point of its p99 < 50 ms), and `half_rate_*` at half
the rate this run's burst reached.
For profiling: BENCH_FLOW_BURST (requests in the burst), BENCH_FLOW_PACED_SECONDS and
BENCH_FLOW_PACED_RATE (default: half the burst's rate) change the sizes; BENCH_REPLICAS the engines;
BENCH_FLOW_DUMP=<path> writes each stream's per-request timings to <path>.<rate>.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.ext.asyncio import create_async_engine

from latchkey.contracts import (
    FLOWS,
    GROUPS,
    INVENTORY,
    REQUESTS,
    USERS,
    AccessFlowUpserted,
    GroupUpserted,
    RequestSubmitted,
    ResourceDiscovered,
    UserUpserted,
    connector_commands,
)
from latchkey.flow_engine.domain.documents import parse_flows
from latchkey.flow_engine.domain.flow import flow_digest
from latchkey.runtime import ServiceSettings
from latchkey.runtime.kafka import ensure_topics
from latchkey.runtime.signing import generate_private_key
from latchkey.runtime.testing import unique_prefix
from latchkey.runtime.testing.oidc import TestIssuer
from latchkey.runtime.testing.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (python bench/flow_engine_throughput.py)
    sys.path.insert(0, str(ROOT))

from bench.kafka_baseline import percentile  # noqa: E402
from bench.proc import cpu_seconds  # noqa: E402

NAME = "flow_engine_throughput"
TARGET_RATE = 2_000.0
"""Decisions/s the issue asks of this 2-core machine; its latency target is at half that rate."""
CONNECTOR = "bench-conn"
FLOW = """
apiVersion: latchkey/v1
kind: AccessFlow
metadata: {name: bench-readonly}
spec:
  requesters: {groups: [engineering]}
  access: {integration: bench-pg, resources: [{name: "db-*"}], permissions: [readonly]}
  approval: {automatic: true}
  defaultDuration: 1h
  maxDuration: 8h
"""


async def _baseline(bootstrap: str, prefix: str, count: int, size: int) -> float:
    """Raw aiokafka: produce `count` messages of `size` bytes (acks=all) and consume them; msgs/s."""
    topic = f"{prefix}bench.baseline"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2)
    await consumer.start()
    await producer.start()
    payload = b"x" * size
    try:
        started = time.perf_counter()
        for i in range(count):
            await producer.send(topic, payload, key=str(i).encode())
        await producer.flush()
        seen = 0
        while seen < count:
            batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            seen += sum(len(b) for b in batches.values())
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def _seed(producer: AIOKafkaProducer, prefix: str, resources: int) -> None:
    async def send(topic: Any, event: Any) -> None:
        await producer.send(
            prefix + topic.name, event.model_dump_json().encode(), key=topic.key_of(event).encode()
        )

    await send(USERS, UserUpserted(user_id="u-bench", email="bench@example.com"))
    await send(GROUPS, GroupUpserted(group_id="g-eng", name="engineering", member_ids=["u-bench"]))
    for i in range(resources):
        await send(
            INVENTORY,
            ResourceDiscovered(
                connector_id=CONNECTOR,
                integration_id="bench-pg",
                integration_type="noop",
                resource_id=f"db-{i}",
                resource_type="database",
                name=f"db-{i}",
                permissions=["readonly"],
            ),
        )
    flows, errors = parse_flows(FLOW)
    assert not errors
    document = flows[0].flow.document()
    await send(FLOWS, AccessFlowUpserted(name="bench-readonly", spec=document, digest=flow_digest(document)))
    await producer.flush()


async def _wait_for_read_models(database_url: str, resources: int, timeout: float = 120) -> None:
    engine = create_async_engine(database_url)
    deadline = time.perf_counter() + timeout
    try:
        while True:
            async with engine.connect() as conn:
                loaded = (
                    await conn.execute(
                        sa.text(
                            "SELECT (SELECT count(*) FROM flow_engine.resources),"
                            " (SELECT count(*) FROM flow_engine.group_members),"
                            " (SELECT count(*) FROM flow_engine.flows)"
                        )
                    )
                ).one()
            if loaded[0] >= resources and loaded[1] >= 1 and loaded[2] >= 1:
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"flow-engine read models not loaded in {timeout}s: {tuple(loaded)}")
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


class _Commands:
    """Collects grant commands and when each arrived."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.arrived: dict[str, float] = {}
        self.issued_behind: dict[str, float] = {}  # arrival minus the command's issued_at (wall clock), s
        # the record's timestamp (CreateTime: when the outbox relay appended it to a record batch)
        # minus the command's issued_at, s: the handler's rest, COMMIT and the relay's read
        self.relayed_behind: dict[str, float] = {}
        self._consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.perf_counter()
            wall = time.time()
            for batch in batches.values():
                for record in batch:
                    command = json.loads(record.value)
                    grant_id = command["grant_id"]
                    if grant_id not in self.arrived:
                        self.arrived[grant_id] = now
                        issued = datetime.fromisoformat(command["issued_at"]).timestamp()
                        self.issued_behind[grant_id] = wall - issued
                        self.relayed_behind[grant_id] = record.timestamp / 1000 - issued

    async def wait(self, ids: list[str], timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while not all(i in self.arrived for i in ids):
            if time.perf_counter() > deadline:
                missing = sum(1 for i in ids if i not in self.arrived)
                raise TimeoutError(f"{missing} of {len(ids)} requests were not decided in {timeout}s")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()


async def _load(
    producer: AIOKafkaProducer, prefix: str, token: str, count: int, rate: float | None, tag: str
) -> tuple[list[str], dict[str, float]]:
    """Submit `count` requests (as fast as possible, or paced at `rate`/s); ids and send times."""
    ids = [f"{tag}-{uuid.uuid4().hex[:12]}" for _ in range(count)]
    # Serialise up front: the generator must not be what limits the rate on a 2-core machine.
    payloads = [
        RequestSubmitted(
            request_id=request_id,
            id_token=token,
            integration_id="bench-pg",
            resource=f"db-{n % 20}",
            permission="readonly",
        )
        .model_dump_json()
        .encode()
        for n, request_id in enumerate(ids)
    ]
    sent: dict[str, float] = {}
    topic = prefix + REQUESTS.name
    started = time.perf_counter()
    for n, (request_id, payload) in enumerate(zip(ids, payloads, strict=True)):
        if rate:
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        sent[request_id] = time.perf_counter()
        await producer.send(topic, payload, key=request_id.encode())
    await producer.flush()
    return ids, sent


async def _paced(
    producer: AIOKafkaProducer,
    prefix: str,
    token: str,
    commands: _Commands,
    engines: list[subprocess.Popen[bytes]],
    rate: float,
    seconds: float,
) -> dict[str, float]:
    """A steady stream of requests at `rate`/s for `seconds`: latency, where it goes, engine CPU."""
    count = int(rate * seconds)
    cpu_before = sum(cpu_seconds(e.pid) for e in engines)
    ids, sent = await _load(producer, prefix, token, count, rate, f"paced{int(rate)}")
    # the rate really offered: a load generator that fell behind its schedule offered less
    offered = count / max(1e-9, max(sent.values()) - min(sent.values()))
    await commands.wait(ids, 120)
    # At a steady rate batches are small, so the per-batch costs weigh more than in the burst.
    cpu_ms = (sum(cpu_seconds(e.pid) for e in engines) - cpu_before) / count * 1000
    latency = [(commands.arrived[i] - sent[i]) * 1000 for i in ids]
    # Where the time goes: request sent → decided (the command's issued_at, taken in the handler's
    # transaction); decided → relayed (the record's CreateTime, set when the outbox relay appends it:
    # the rest of the batch, COMMIT, the relay's read); decided → command consumed (plus Kafka).
    after_decision = [commands.issued_behind[i] * 1000 for i in ids]
    to_relay = [commands.relayed_behind[i] * 1000 for i in ids]
    if os.environ.get("BENCH_FLOW_DUMP"):  # per request, for timelines: sent, arrived, both delays
        Path(os.environ["BENCH_FLOW_DUMP"] + f".{int(rate)}.json").write_text(
            json.dumps(
                [
                    [sent[i], commands.arrived[i], commands.issued_behind[i], commands.relayed_behind[i]]
                    for i in ids
                ]
            )
        )
    return {
        "offered_per_s": round(offered, 1),
        "engine_cpu_ms_per_decision": round(cpu_ms, 3),
        "latency_p50_ms": round(percentile(latency, 50), 1),
        "latency_p99_ms": round(percentile(latency, 99), 1),
        "decided_to_relayed_p50_ms": round(percentile(to_relay, 50), 1),
        "decided_to_relayed_p99_ms": round(percentile(to_relay, 99), 1),
        "decided_to_delivered_p50_ms": round(percentile(after_decision, 50), 1),
        "decided_to_delivered_p99_ms": round(percentile(after_decision, 99), 1),
    }


async def _run(bootstrap: str, database_url: str, quick: bool, replicas: int) -> dict[str, Any]:
    prefix = unique_prefix("bench")
    burst = int(os.environ.get("BENCH_FLOW_BURST", 2_000 if quick else 20_000))
    paced_seconds = float(os.environ.get("BENCH_FLOW_PACED_SECONDS", 3 if quick else 10))
    ports = [free_port() for _ in range(replicas)]
    idp = TestIssuer().start()
    env = {
        **os.environ,
        "LATCHKEY_KAFKA_BOOTSTRAP": bootstrap,
        "LATCHKEY_DATABASE_URL": database_url,
        "LATCHKEY_TOPIC_PREFIX": prefix,
        "LATCHKEY_SIGNING_KEY": generate_private_key(),
        "LATCHKEY_OIDC_ISSUER": idp.issuer,
        "LATCHKEY_LOG_LEVEL": "WARNING",
        "LATCHKEY_CONSUMER_MAX_RECORDS": "1000",
        "LATCHKEY_CONSUMER_BATCH_TIMEOUT_MS": "5",
    }
    engines = [
        subprocess.Popen(
            [sys.executable, "-m", "latchkey.flow_engine"],
            env={**env, "LATCHKEY_HEALTH_PORT": str(port), "LATCHKEY_INSTANCE_ID": f"bench-{n}"},
            stdout=subprocess.DEVNULL,
        )
        for n, port in enumerate(ports)
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2)
    commands = _Commands(bootstrap, prefix + connector_commands(CONNECTOR).name)
    try:
        baseline = await _baseline(bootstrap, prefix, burst, 1_200)
        async with httpx.AsyncClient() as client:
            for engine, port in zip(engines, ports, strict=True):
                for _ in range(300):
                    if engine.poll() is not None:
                        raise RuntimeError("flow-engine exited during start-up")
                    try:
                        if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)
        await ensure_topics(
            ServiceSettings(kafka_bootstrap=bootstrap, topic_prefix=prefix), [connector_commands(CONNECTOR)]
        )
        await producer.start()
        await commands.start()
        await _seed(producer, prefix, 20)
        # The read models are fed by other consumer groups than requests: a request decided before the
        # inventory arrived is (rightly) denied and never becomes a command. Wait until they are loaded.
        await _wait_for_read_models(database_url, 20)
        token = idp.mint("u-bench", "bench@example.com", expires_in=3600)
        # warm-up: read models loaded, consumer groups joined, JWKS fetched
        warm, _ = await _load(producer, prefix, token, 50, None, "warm")
        await commands.wait(warm, 180)

        cpu_before = sum(cpu_seconds(e.pid) for e in engines)
        ids, sent = await _load(producer, prefix, token, burst, None, "burst")
        await commands.wait(ids, 300)
        # CPU the engine spent per decision in the burst (handler + outbox relay): steadier than
        # wall-clock rates on a shared machine, since another process's load does not inflate it.
        cpu_per_decision_ms = (sum(cpu_seconds(e.pid) for e in engines) - cpu_before) / burst * 1000
        first = min(sent.values())
        last = max(commands.arrived[i] for i in ids)
        decisions_per_s = burst / (last - first)
        burst_latency = [(commands.arrived[i] - sent[i]) * 1000 for i in ids]

        # Two steady streams: at half the rate the issue sets as the target (2,000 decisions/s), and at
        # half the rate this run's burst reached (which moves with the machine and the code).
        target_half = await _paced(producer, prefix, token, commands, engines, TARGET_RATE / 2, paced_seconds)
        rate = float(os.environ.get("BENCH_FLOW_PACED_RATE", 0)) or max(50.0, decisions_per_s / 2)
        half = await _paced(producer, prefix, token, commands, engines, rate, paced_seconds)
        return {
            "name": NAME,
            "params": {
                "quick": quick,
                "burst_requests": burst,
                "paced_seconds": paced_seconds,
                "paced_rate_per_s": round(rate, 1),
                "target_rate_per_s": TARGET_RATE,
                "flow": "automatic",
                "consumer_max_records": 1000,
                "replicas": replicas,
            },
            "metrics": {
                "decisions_per_s": round(decisions_per_s, 1),
                "engine_cpu_ms_per_decision": round(cpu_per_decision_ms, 3),
                "commands_per_s": round(decisions_per_s, 1),  # one signed grant command per decision
                "burst_latency_p50_ms": round(percentile(burst_latency, 50), 1),
                "burst_latency_p99_ms": round(percentile(burst_latency, 99), 1),
                **{f"half_rate_{key}": value for key, value in half.items()},
                **{f"half_target_{key}": value for key, value in target_half.items()},
            },
            "baseline": {"kafka_produce_consume_msgs_per_s": round(baseline, 1), "message_bytes": 1_200},
            "ratio": round(decisions_per_s / baseline, 4),
        }
    finally:
        await commands.stop()
        await producer.stop()
        for engine in engines:
            engine.send_signal(signal.SIGTERM)
        for engine in engines:
            try:
                engine.wait(20)
            except subprocess.TimeoutExpired:
                engine.kill()
        idp.stop()


def run(bootstrap: str, database_url: str, quick: bool, replicas: int = 1) -> dict[str, Any]:
    """Run the benchmark; returns {"name", "params", "metrics", "baseline", "ratio"}.

    `replicas` flow-engine processes share the work (one consumer group; the outbox relay is
    serialised by an advisory lock)."""
    return asyncio.run(_run(bootstrap, database_url, quick, replicas))


if __name__ == "__main__":
    result = run(
        os.environ.get("LATCHKEY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        os.environ.get(
            "LATCHKEY_DATABASE_URL", "postgresql+psycopg://latchkey:latchkey@127.0.0.1:5432/latchkey"
        ),
        "--quick" in sys.argv,
        int(os.environ.get("BENCH_REPLICAS", "1")),
    )
    print(json.dumps(result, indent=2))
