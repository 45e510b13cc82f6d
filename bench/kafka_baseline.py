"""What the broker alone costs: raw produce→consume round trip, and a 4-hop chain
(consume→produce x4, each hop its own process on the services' event loop) on the same broker with
the services' producer settings (acks=all, idempotent, linger 2 ms). Every Latchkey latency is judged
against these numbers."""

from __future__ import annotations

import asyncio
import multiprocessing
import struct
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from latchkey.runtime.service import run_on
from latchkey.runtime.settings import ServiceSettings
from latchkey.runtime.testing import unique_prefix

HOPS = 4
PARTITIONS = 3


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap.split(","), acks="all", enable_idempotence=True, linger_ms=2
    )


async def _create(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(n, num_partitions=PARTITIONS, replication_factor=1) for n in names]
        )
        for _ in range(100):
            described = await admin.describe_topics(names)
            if all(d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"]) for d in described):
                return
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _delete(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    await admin.start()
    try:
        await admin.delete_topics(names)
    except Exception:
        pass
    finally:
        await admin.close()


async def _relay(bootstrap: str, source: str, target: str, group: str) -> None:
    """One hop: consume a batch, produce every record on, commit after the sends are acknowledged —
    the same at-least-once shape as a Latchkey consumer, without the database."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap.split(","),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
    )
    producer = _producer(bootstrap)
    await consumer.start()
    await producer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=50, max_records=500)
            futures = [
                await producer.send(target, r.value, key=r.key) for records in batch.values() for r in records
            ]
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()


def _relay_process(bootstrap: str, source: str, target: str, group: str) -> None:
    # On the event loop the services run on (LATCHKEY_EVENT_LOOP's default), so that the chain is
    # the same client on the same loop as a Latchkey hop, minus Latchkey: alternated three times with
    # asyncio's loop, chain4's p50 was 0.4-1 ms lower on uvloop.
    run_on(ServiceSettings.model_fields["event_loop"].default, _relay(bootstrap, source, target, group))


class _Sink:
    """Reads the last topic of a path (all partitions assigned, no group) and timestamps arrivals."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, fetch_max_wait_ms=5
        )

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.topics()
        partitions = [TopicPartition(self.topic, p) for p in range(PARTITIONS)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)

    async def stop(self) -> None:
        await self.consumer.stop()

    async def receive(self, count: int, timeout: float) -> list[tuple[bytes, float]]:
        out: list[tuple[bytes, float]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            batch = await self.consumer.getmany(timeout_ms=100, max_records=5_000)
            now = time.perf_counter()
            out.extend((r.value, now) for records in batch.values() for r in records)
        return out


def _stamp(seq: int) -> bytes:
    # 8-byte sequence + send time + padding to the size of a typical lifecycle event (~600 bytes)
    return struct.pack(">qd", seq, time.perf_counter()) + b"x" * 600


def _latency_ms(value: bytes, arrived: float) -> float:
    sent: float = struct.unpack(">qd", value[:16])[1]
    return (arrived - sent) * 1000


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def _ping_pong(bootstrap: str, first: str, sink: _Sink, count: int, timeout: float = 60) -> list[float]:
    """One message in flight at a time: pure latency, no queueing."""
    producer = _producer(bootstrap)
    await producer.start()
    latencies: list[float] = []
    try:
        for seq in range(count):
            await producer.send_and_wait(first, _stamp(seq), key=str(seq % 64).encode())
            got = await sink.receive(1, timeout)
            if not got:
                raise TimeoutError(f"message {seq} never reached {sink.topic}")
            latencies.extend(_latency_ms(v, t) for v, t in got)
    finally:
        await producer.stop()
    return latencies


async def _blast(bootstrap: str, first: str, sink: _Sink, count: int) -> dict[str, Any]:
    """Send `count` messages as fast as the producer takes them; throughput = count / time to last."""
    producer = _producer(bootstrap)
    await producer.start()
    t0 = time.perf_counter()
    receiving = asyncio.create_task(sink.receive(count, 120))
    try:
        futures = [await producer.send(first, _stamp(i), key=str(i % 64).encode()) for i in range(count)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    got = await receiving
    elapsed = got[-1][1] - t0 if got else float("nan")
    per_second: dict[int, int] = {}
    for _, arrived in got:
        second = int(arrived - t0)
        per_second[second] = per_second.get(second, 0) + 1
    return {
        "received": len(got),
        "seconds": elapsed,
        "per_s": len(got) / elapsed if got else 0.0,
        "series": sorted(per_second.items()),
    }


async def _warm(bootstrap: str, first: str, sink: _Sink, timeout: float = 60) -> None:
    """Wait until the relays joined their groups: a probe message makes it through the chain."""
    producer = _producer(bootstrap)
    await producer.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            await producer.send_and_wait(first, _stamp(-1), key=b"warm")
            if await sink.receive(1, 3):
                # let any further probes in flight arrive, so measurements start clean
                await sink.receive(1_000, 2)
                return
        raise TimeoutError("the relay chain did not come up")
    finally:
        await producer.stop()


def run(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    prefix = unique_prefix("bench-")
    direct = f"{prefix}direct"
    chain = [f"{prefix}hop{i}" for i in range(HOPS + 1)]
    pings = 200 if quick else 2_000
    blast = 3_000 if quick else 50_000
    asyncio.run(_create(bootstrap, [direct, *chain]))
    ctx = multiprocessing.get_context("spawn")  # no inherited event loop or sockets
    relays = [
        ctx.Process(
            target=_relay_process, args=(bootstrap, chain[i], chain[i + 1], f"{prefix}relay{i}"), daemon=True
        )
        for i in range(HOPS)
    ]
    for relay in relays:
        relay.start()
    try:
        result = asyncio.run(_measure(bootstrap, direct, chain, pings, blast))
    finally:
        for relay in relays:
            relay.terminate()
        for relay in relays:
            relay.join(10)
        asyncio.run(_delete(bootstrap, [direct, *chain]))
    return result


async def _measure(bootstrap: str, direct: str, chain: list[str], pings: int, blast: int) -> dict[str, Any]:
    direct_sink = _Sink(bootstrap, direct)
    chain_sink = _Sink(bootstrap, chain[-1])
    await direct_sink.start()
    await chain_sink.start()
    try:
        rt = await _ping_pong(bootstrap, direct, direct_sink, pings)
        direct_blast = await _blast(bootstrap, direct, direct_sink, blast)
        await _warm(bootstrap, chain[0], chain_sink)
        hop4 = await _ping_pong(bootstrap, chain[0], chain_sink, pings)
        chain_blast = await _blast(bootstrap, chain[0], chain_sink, blast)
    finally:
        await direct_sink.stop()
        await chain_sink.stop()
    metrics = {
        "roundtrip_p50_ms": percentile(rt, 50),
        "roundtrip_p99_ms": percentile(rt, 99),
        "roundtrip_throughput_per_s": direct_blast["per_s"],
        "chain4_p50_ms": percentile(hop4, 50),
        "chain4_p99_ms": percentile(hop4, 99),
        "chain4_throughput_per_s": chain_blast["per_s"],
        "chain4_lost": blast - chain_blast["received"],
    }
    return {
        "name": "kafka_baseline",
        "params": {
            "pings": pings,
            "blast": blast,
            "hops": HOPS,
            "partitions": PARTITIONS,
            "value_bytes": 616,
        },
        "metrics": {k: round(v, 3) if isinstance(v, float) else v for k, v in metrics.items()},
        "baseline": None,
        "ratio": None,
        "samples": {
            "latency_ms": {"produce→consume": rt, "4-hop chain": hop4},
            "throughput": {"produce→consume": direct_blast["series"], "4-hop chain": chain_blast["series"]},
        },
    }
