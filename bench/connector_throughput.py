"""Connector throughput: signed grant commands → one connector replica → results, for the `noop`
integration (the core's own cost) and PostgreSQL (real grants to an existing role).

Baseline: raw aiokafka produce → consume of the same number of same-sized messages on the same broker
in the same run; `ratio` = connector commands/s ÷ raw messages/s (1.0 would mean the connector adds
nothing over one Kafka hop; it does one consume + verify + apply + one acknowledged produce each).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from latchkey.connector.testing import (
    ConnectorProcess,
    ResultCollector,
    grant_commands,
    produce_commands,
    write_connector_yaml,
)
from latchkey.contracts import RESULTS, CommandApplied, connector_commands
from latchkey.runtime.signing import CommandSigner, generate_private_key, load_private_key, public_key_of
from latchkey.runtime.testing import unique_prefix


async def raw_kafka(bootstrap: str, count: int, size: int) -> dict[str, float]:
    """Messages/s and p50 latency of produce (acks=all) → consume through one topic of 3 partitions."""
    topic = f"bench-raw-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    await admin.close()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=20,
    )
    await consumer.start()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        payload = b"x" * size
        # Warm up: the consumer has joined its group and the producer has metadata before timing.
        await producer.send_and_wait(topic, b"warm", key=b"warm")
        while not await consumer.getmany(timeout_ms=200):
            pass
        started = time.time()
        futures = [await producer.send(topic, payload, key=str(i).encode()) for i in range(count)]
        await asyncio.gather(*futures)
        arrivals: list[float] = []
        while len(arrivals) < count:
            batches = await consumer.getmany(timeout_ms=200)
            now = time.time()
            arrivals.extend(now for records in batches.values() for _ in records)
        elapsed = max(arrivals) - started
        return {"per_second": count / elapsed, "p50_ms": (statistics.median(arrivals) - started) * 1000}
    finally:
        await producer.stop()
        await consumer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.delete_topics([topic])
        await admin.close()


async def through_connector(
    bootstrap: str, workdir: Path, integration: dict[str, Any], count: int, **command: Any
) -> dict[str, float]:
    private = load_private_key(generate_private_key())
    signer = CommandSigner(private, key_id="cp-1")
    connector_id = f"tp-{uuid.uuid4().hex[:6]}"
    config = write_connector_yaml(workdir, public_key_of(private), [integration], connector_id)
    prefix = unique_prefix("tp")
    process = ConnectorProcess(
        config,
        bootstrap,
        prefix,
        workdir / f"{integration['id']}.log",
        env={"LATCHKEY_INVENTORY_INTERVAL_SECONDS": "0", "LATCHKEY_LOG_LEVEL": "WARNING"},
    ).start()
    collector = ResultCollector(bootstrap, f"{prefix}{RESULTS.name}")
    try:
        await asyncio.to_thread(process.wait_ready)
        await collector.start()
        warm = grant_commands(signer, connector_id, integration["id"], 5, **command)
        topic = f"{prefix}{connector_commands(connector_id).name}"
        await produce_commands(bootstrap, topic, warm)
        await collector.wait_for({c.command_id for c in warm}, timeout=60)
        batch = grant_commands(signer, connector_id, integration["id"], count, **command)
        started = time.time()
        await produce_commands(bootstrap, topic, batch)
        await collector.wait_for({c.command_id for c in batch}, timeout=300)
        seen = collector.by_command()
        arrivals = [seen[c.command_id][0].at for c in batch]
        failed = sum(not isinstance(seen[c.command_id][0].result, CommandApplied) for c in batch)
        if failed:
            raise RuntimeError(f"{failed} of {count} commands failed: {seen[batch[0].command_id][0].result}")
        elapsed = max(arrivals) - started
        return {
            "per_second": count / elapsed,
            "p50_ms": (statistics.median(arrivals) - started) * 1000,
            "seconds": elapsed,
        }
    finally:
        await collector.stop()
        process.stop()


def _pg_target(database_url: str) -> tuple[dict[str, Any], str]:
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    info = psycopg.conninfo.conninfo_to_dict(url)
    role = f"bench_reader_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        conn.execute("CREATE TABLE IF NOT EXISTS bench.orders (id int)")
        conn.execute(f"CREATE ROLE {role} NOLOGIN")
    connection = {
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port") or 5432),
        "user": info.get("user"),
        "dbname": info["dbname"],
    }
    return connection, role


def _drop_role(database_url: str, role: str) -> None:
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def run(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    noop_count, pg_count = (200, 40) if quick else (1000, 200)
    connection, role = _pg_target(database_url)
    info = psycopg.conninfo.conninfo_to_dict(database_url.replace("postgresql+psycopg://", "postgresql://"))
    os.environ["LK_BENCH_PG_PASSWORD"] = str(info.get("password", ""))

    async def measure() -> dict[str, Any]:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            raw = await raw_kafka(bootstrap, noop_count, 700)
            noop = await through_connector(
                bootstrap, workdir, {"id": "bench", "type": "noop", "templates": ["access"]}, noop_count
            )
            pg = await through_connector(
                bootstrap,
                workdir,
                {
                    "id": "appdb",
                    "type": "postgresql",
                    "connection": connection,
                    "secret": "env://LK_BENCH_PG_PASSWORD",
                    "templates": ["readonly"],
                },
                pg_count,
                template="readonly",
                resource=f"schema:{connection['dbname']}.bench",
                parameters={"role": role},
            )
            return {"raw": raw, "noop": noop, "postgresql": pg}

    try:
        numbers = asyncio.run(measure())
    finally:
        _drop_role(database_url, role)
    raw, noop, pg = numbers["raw"], numbers["noop"], numbers["postgresql"]
    return {
        "name": "connector_throughput",
        "params": {
            "noop_commands": noop_count,
            "postgresql_commands": pg_count,
            "replicas": 1,
            "command_concurrency": 16,
            "message_bytes_baseline": 700,
        },
        "metrics": {
            "noop_commands_per_s": round(noop["per_second"], 1),
            "noop_p50_ms": round(noop["p50_ms"], 1),
            "postgresql_grants_per_s": round(pg["per_second"], 1),
            "postgresql_p50_ms": round(pg["p50_ms"], 1),
        },
        "baseline": {
            "raw_kafka_msgs_per_s": round(raw["per_second"], 1),
            "raw_kafka_p50_ms": round(raw["p50_ms"], 1),
        },
        "ratio": {
            "noop_vs_raw": round(noop["per_second"] / raw["per_second"], 3),
            "postgresql_vs_raw": round(pg["per_second"] / raw["per_second"], 3),
        },
    }
