"""identity-sync: full sync of 100k users / 10k groups from the fake Okta and the fake Microsoft Graph
servers, then an incremental run after 100 changes (Graph: delta links; Okta: search/filter since the
stored high-water mark): wall time until committed and until the relay published every event, events,
HTTP requests, peak RSS. Target (issue 7): full <= 30 s until published, incremental <= 2 s,
peak RSS <= 300 MB.

Each fake IdP runs in its own process (its memory and CPU are not the sync's), and each sync in a fresh
spawned process so its peak RSS is its own. The baseline is raw aiokafka produce throughput for the same
number of events on the same broker in the same run."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import time
import uuid
from typing import Any

from latchkey.runtime.testing import unique_prefix

USERS, GROUPS = 100_000, 10_000
QUICK_USERS, QUICK_GROUPS = 10_000, 1_000
CHANGES = 100


def _start_fake(kind: str, users: int, groups: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "latchkey.identity_sync.testing", kind, str(users), str(groups)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        process.kill()
        raise RuntimeError(f"fake {kind} IdP did not start")
    return process, json.loads(line)


async def _wait_published(relay: Any, target: int, timeout: float = 300.0) -> None:
    """Until the relay's count of published outbox rows (acknowledged by the brokers and deleted)
    reaches `target`. Its own counter: polling the outbox table would load the database the relay is
    working on."""
    deadline = time.monotonic() + timeout
    while relay.published < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{target - relay.published} events not relayed")
        await asyncio.sleep(0.01)


async def _measure_sync(kind: str, fake: dict[str, Any], bootstrap: str, database_url: str) -> dict[str, Any]:
    import httpx
    import sqlalchemy as sa

    from latchkey.contracts import GROUPS as GROUPS_TOPIC
    from latchkey.contracts import USERS as USERS_TOPIC
    from latchkey.identity_sync.app import MIGRATIONS
    from latchkey.identity_sync.providers import build_provider
    from latchkey.identity_sync.settings import IdentitySyncSettings
    from latchkey.identity_sync.store import DirectoryStore
    from latchkey.identity_sync.sync import SyncEngine
    from latchkey.runtime import Service
    from latchkey.runtime.kafka import ensure_topics
    from latchkey.runtime.migrations import upgrade_async

    schema = f"identity_sync_bench_{kind}"
    options: dict[str, Any] = {
        "kafka_bootstrap": bootstrap,
        "database_url": database_url,
        "topic_prefix": unique_prefix("bench-"),
        "idp_provider": kind,
        "idp_url": fake["api_url"],
        "idp_token_url": fake["token_url"],
        "idp_client_id": fake["client_id"],
        "log_level": "WARNING",
    }
    if kind == "okta":
        options["idp_token"] = fake["api_token"]
    else:
        options["idp_client_secret"] = fake["client_secret"]
    settings = IdentitySyncSettings(**options)
    service = Service(
        settings,
        topics=[USERS_TOPIC, GROUPS_TOPIC],
        schema=schema,
        migrations=MIGRATIONS,
        configure_process=False,
    )
    provider = build_provider(settings)
    engine = SyncEngine(provider, service.unit_of_work, store=DirectoryStore(schema))
    async with service.engine.begin() as conn:  # a fresh snapshot, also when run by hand twice
        await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await upgrade_async(settings.sync_database_url, MIGRATIONS, schema)
    await ensure_topics(settings, service.topics)
    assert service.relay is not None
    await service.relay.start()
    relay = service.relay
    try:
        published_before = relay.published
        started = time.perf_counter()
        full = await engine.run("full")
        full_synced = time.perf_counter() - started
        await _wait_published(relay, published_before + full.events)
        full_published = time.perf_counter() - started
        full_events, full_requests = full.events, provider.stats.requests
        del full  # its plan holds the whole directory
        full_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        async with httpx.AsyncClient() as http:
            changed = (await http.post(f"{fake['base_url']}/_fake/changes", params={"count": CHANGES})).json()
        published_before = relay.published
        started = time.perf_counter()
        incremental = await engine.run("incremental")
        incremental_synced = time.perf_counter() - started
        await _wait_published(relay, published_before + incremental.events)
        incremental_published = time.perf_counter() - started
        return {
            "full_sync_s": round(full_synced, 2),
            "full_until_published_s": round(full_published, 2),
            "full_events": full_events,
            "full_http_requests": full_requests,
            "incremental_mode": incremental.mode,
            "incremental_sync_s": round(incremental_synced, 3),
            "incremental_until_published_s": round(incremental_published, 3),
            "incremental_events": incremental.events,
            "incremental_http_requests": provider.stats.requests - full_requests,
            "incremental_changes_made": sum(len(v) for v in changed.values()),
            "peak_rss_mb_after_full": round(full_rss_mb, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        await provider.aclose()
        await service.relay.stop()
        await service.engine.dispose()


def _sync_child(kind: str, fake: dict[str, Any], bootstrap: str, database_url: str, out: Any) -> None:
    try:
        out.put(asyncio.run(_measure_sync(kind, fake, bootstrap, database_url)))
    except BaseException as exc:
        out.put({"error": f"{type(exc).__name__}: {exc}"})


def _measure_in_child(
    kind: str, users: int, groups: int, bootstrap: str, database_url: str
) -> dict[str, Any]:
    fake_process, fake = _start_fake(kind, users, groups)
    try:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=_sync_child, args=(kind, fake, bootstrap, database_url, queue))
        child.start()
        result: dict[str, Any] = queue.get(timeout=900)
        child.join(30)
        if "error" in result:
            raise RuntimeError(f"{kind} sync failed: {result['error']}")
        return result
    finally:
        fake_process.terminate()
        fake_process.wait(10)


async def _raw_produce(bootstrap: str, count: int, size: int = 350) -> float:
    """Seconds to produce `count` records of `size` bytes with the services' producer settings."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"bench-idsync-baseline-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap.split(","),
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        value = os.urandom(size // 2).hex().encode()
        await (await producer.send(topic, value=value, key=b"warm"))
        started = time.perf_counter()
        futures = [await producer.send(topic, value=value, key=str(i).encode()) for i in range(count)]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","))
        await admin.start()
        try:
            await admin.delete_topics([topic])
        except Exception:
            pass
        finally:
            await admin.close()


def run(bootstrap: str, database_url: str, quick: bool) -> dict[str, Any]:
    users, groups = (QUICK_USERS, QUICK_GROUPS) if quick else (USERS, GROUPS)
    metrics: dict[str, Any] = {}
    for kind in ("graph", "okta"):
        for key, value in _measure_in_child(kind, users, groups, bootstrap, database_url).items():
            metrics[f"{kind}_{key}"] = value
    events = max(metrics["okta_full_events"], metrics["graph_full_events"])
    raw_s = asyncio.run(_raw_produce(bootstrap, events))
    baseline = {
        "raw_produce_events": events,
        "raw_produce_s": round(raw_s, 2),
        "raw_produce_per_s": round(events / raw_s),
    }
    full_worst = max(metrics["okta_full_until_published_s"], metrics["graph_full_until_published_s"])
    incremental_worst = max(
        metrics["okta_incremental_until_published_s"], metrics["graph_incremental_until_published_s"]
    )
    metrics["targets"] = {
        "full_until_published_s<=30": full_worst <= 30,
        "incremental_until_published_s<=2": incremental_worst <= 2,
        "peak_rss_mb<=300": max(metrics["okta_peak_rss_mb"], metrics["graph_peak_rss_mb"]) <= 300,
    }
    return {
        "name": "identity_sync",
        "params": {"users": users, "groups": groups, "changes": CHANGES, "providers": ["okta", "graph"]},
        "metrics": metrics,
        "baseline": baseline,
        # how much longer a full sync takes, listing + diff + outbox + relay, than producing its events raw
        "ratio": {
            "okta_full_vs_raw_produce": round(metrics["okta_full_until_published_s"] / raw_s, 2),
            "graph_full_vs_raw_produce": round(metrics["graph_full_until_published_s"] / raw_s, 2),
        },
    }


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(
        json.dumps(
            run(
                os.environ.get("LATCHKEY_KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
                os.environ.get(
                    "LATCHKEY_DATABASE_URL", "postgresql+psycopg://latchkey:latchkey@127.0.0.1:55432/latchkey"
                ),
                quick,
            ),
            indent=2,
        )
    )
