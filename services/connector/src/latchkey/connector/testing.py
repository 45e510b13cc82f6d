"""Running connector replicas as real processes (`python -m latchkey.connector run`) and the
scenarios (HA failover, throughput) that tests and benchmarks share. Not used by the service."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from latchkey.contracts import (
    RESULTS,
    CommandApplied,
    CommandFailed,
    GrantCommand,
    Principal,
    connector_commands,
    utcnow,
    uuid7,
)
from latchkey.runtime.health import probe
from latchkey.runtime.signing import CommandSigner, generate_private_key, load_private_key, public_key_of
from latchkey.runtime.testing import unique_prefix
from latchkey.runtime.testing.ports import free_port

DEFAULT_TEMPLATES = Path(__file__).resolve().parents[3] / "templates"


class ConnectorProcess:
    """One replica; its logs (JSON lines) go to `log_path` so tests can read them."""

    def __init__(
        self,
        config_path: Path,
        bootstrap: str,
        topic_prefix: str,
        log_path: Path,
        *,
        name: str = "replica",
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.name = name
        self.env = os.environ | {
            "LATCHKEY_CONFIG_PATH": str(config_path),
            "LATCHKEY_KAFKA_BOOTSTRAP": bootstrap,
            "LATCHKEY_TOPIC_PREFIX": topic_prefix,
            "LATCHKEY_HEALTH_PORT": str(self.port),
            "LATCHKEY_INSTANCE_ID": name,
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ConnectorProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "latchkey.connector", "run"], env=self.env, stdout=log, stderr=log
        )
        log.close()
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}: {self.tail()}")
            if probe("127.0.0.1", self.port, instance=self.env["LATCHKEY_INSTANCE_ID"])[0]:
                return
            time.sleep(0.2)
        raise AssertionError(f"{self.name} never became ready: {self.tail()}")

    def kill(self) -> None:
        """kill -9: no goodbye to the group coordinator, no flush, no commit."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 20) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])


# -- scenarios shared by the HA test and the benchmarks ------------------------------------------


def write_connector_yaml(
    folder: Path,
    public_key: str,
    integrations: list[dict[str, Any]],
    connector_id: str,
    templates: Path = DEFAULT_TEMPLATES,
) -> Path:
    document = {
        "apiVersion": "latchkey/v1",
        "kind": "Connector",
        "connector_id": connector_id,
        "control_plane_keys": {"cp-1": public_key},
        "templates_dirs": [str(templates)],
        "integrations": integrations,
    }
    path = folder / "connector.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def grant_commands(
    signer: CommandSigner,
    connector_id: str,
    integration_id: str,
    count: int,
    *,
    template: str = "access",
    resource: str = "noop-resource",
    parameters: dict[str, str] | None = None,
) -> list[GrantCommand]:
    now = utcnow()
    return [
        signer.sign(
            GrantCommand(
                producer="bench",
                command_id=str(uuid7()),
                grant_id=str(uuid7()),
                connector_id=connector_id,
                integration_id=integration_id,
                issued_at=now,
                not_after=now + timedelta(minutes=30),
                template=template,
                resource=resource,
                parameters=parameters or {},
                principal=Principal(user_id=f"user-{i}"),
                expires_at=now + timedelta(hours=1),
            )
        )
        for i in range(count)
    ]


async def produce_commands(bootstrap: str, topic: str, commands: list[GrantCommand]) -> dict[str, int]:
    """Publish keyed by grant id (acks=all); returns command_id → partition."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, c.model_dump_json().encode(), key=c.grant_id.encode())
            for c in commands
        ]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return {c.command_id: m.partition for c, m in zip(commands, metadata, strict=True)}


@dataclass
class SeenResult:
    result: CommandApplied | CommandFailed
    at: float  # time.time() when this reader saw it


class ResultCollector:
    """Follows connector.results.v1 from the beginning in the background, recording when each
    result arrived (wall clock), so throughput and failover can be measured."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.seen: list[SeenResult] = []
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"collector-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            fetch_max_wait_ms=20,
            metadata_max_age_ms=1000,
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            now = time.time()
            for records in batches.values():
                for record in records:
                    result = RESULTS.parse(record.value)
                    assert isinstance(result, CommandApplied | CommandFailed)
                    self.seen.append(SeenResult(result, now))

    def by_command(self) -> dict[str, list[SeenResult]]:
        found: dict[str, list[SeenResult]] = {}
        for seen in self.seen:
            found.setdefault(seen.result.command_id, []).append(seen)
        return found

    async def wait_for(self, command_ids: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not command_ids <= set(self.by_command()):
            if time.monotonic() > deadline:
                missing = len(command_ids - set(self.by_command()))
                raise TimeoutError(
                    f"{missing} of {len(command_ids)} commands have no result after {timeout}s"
                )
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()


@dataclass
class FailoverReport:
    commands: int
    results_per_command: dict[str, int]
    applied_per_command: dict[str, int]
    journal_grants: dict[str, int]
    killed: str
    killed_partitions: set[int]
    failover_seconds: float
    total_seconds: float
    session_timeout_ms: int
    redelivered_commands: int = 0
    logs: dict[str, str] = field(default_factory=dict)
    killed_after_seconds: float = 0.0
    """When the kill -9 happened, in seconds since the commands were published."""
    results: list[tuple[float, str]] = field(default_factory=list)
    """Every result as (seconds since the commands were published, replica name), in arrival order."""


async def failover_scenario(
    bootstrap: str,
    workdir: Path,
    *,
    commands: int = 300,
    replicas: int = 3,
    delay_ms: int = 30,
    kill_after_fraction: float = 0.3,
    session_timeout_ms: int = 6_000,
    heartbeat_interval_ms: int = 1_000,
) -> FailoverReport:
    """Run `replicas` connector processes (noop target with a journal), publish `commands` grants,
    kill -9 one replica once `kill_after_fraction` of the results are in, and wait for all results."""
    private = load_private_key(generate_private_key())
    signer = CommandSigner(private, key_id="cp-1")
    connector_id = f"ha-{uuid.uuid4().hex[:6]}"
    journal = workdir / "journal"
    config = write_connector_yaml(
        workdir,
        public_key_of(private),
        [
            {
                "id": "bench",
                "type": "noop",
                "templates": ["access"],
                "connection": {"journal": str(journal), "delay_ms": delay_ms},
            }
        ],
        connector_id,
    )
    prefix = unique_prefix("ha")
    env = {
        "LATCHKEY_SESSION_TIMEOUT_MS": str(session_timeout_ms),
        "LATCHKEY_HEARTBEAT_INTERVAL_MS": str(heartbeat_interval_ms),
        "LATCHKEY_COMMAND_CONCURRENCY": "1",
        "LATCHKEY_CONSUMER_MAX_RECORDS": "20",
        "LATCHKEY_INVENTORY_INTERVAL_SECONDS": "0",
    }
    processes = [
        ConnectorProcess(
            config, bootstrap, prefix, workdir / f"replica-{i}.log", name=f"replica-{i}", env=env
        )
        for i in range(replicas)
    ]
    collector = ResultCollector(bootstrap, f"{prefix}{RESULTS.name}")
    try:
        for process in processes:
            process.start()
        await asyncio.gather(*(asyncio.to_thread(p.wait_ready) for p in processes))
        await asyncio.sleep(3)  # let the group settle after the joins, so the kill is the only rebalance
        await collector.start()
        batch = grant_commands(signer, connector_id, "bench", commands)
        started = time.time()
        partitions = await produce_commands(
            bootstrap, f"{prefix}{connector_commands(connector_id).name}", batch
        )
        while len(collector.seen) < commands * kill_after_fraction:  # noqa: ASYNC110 - polls the follower
            await asyncio.sleep(0.02)
        # Kill a replica that is working right now (it has results in the last moment).
        recent = [s.result.replica for s in collector.seen[-10:]]
        victim = next(p for p in processes if any(r.startswith(f"{p.name}:") for r in recent))
        killed_partitions = {
            partitions[s.result.command_id]
            for s in collector.seen
            if s.result.replica.startswith(f"{victim.name}:")
        }
        victim.kill()
        killed_at = time.time()
        await collector.wait_for({c.command_id for c in batch}, timeout=120)
        await asyncio.sleep(1.5)  # catch late duplicates
        finished = max(s.at for s in collector.seen)
        by_command = collector.by_command()
        orphaned = [
            s.at
            for c in batch
            if partitions[c.command_id] in killed_partitions
            for s in by_command[c.command_id]
            if s.at > killed_at
        ]
        lines = journal.read_text().splitlines() if journal.exists() else []
        granted: dict[str, int] = {}
        for line in lines:
            _, grant_id, *_ = line.split()
            granted[grant_id] = granted.get(grant_id, 0) + 1
        logs = {p.name: p.logs() for p in processes}
        redelivered = sum(text.count("command already has a result") for text in logs.values())
        return FailoverReport(
            commands=commands,
            results_per_command={c.command_id: len(by_command.get(c.command_id, [])) for c in batch},
            applied_per_command={
                c.command_id: sum(
                    isinstance(s.result, CommandApplied) for s in by_command.get(c.command_id, [])
                )
                for c in batch
            },
            journal_grants={c.grant_id: granted.get(c.grant_id, 0) for c in batch},
            killed=victim.name,
            killed_partitions=killed_partitions,
            failover_seconds=(max(orphaned) - killed_at) if orphaned else 0.0,
            total_seconds=finished - started,
            session_timeout_ms=session_timeout_ms,
            redelivered_commands=redelivered,
            logs=logs,
            killed_after_seconds=killed_at - started,
            results=[(s.at - started, s.result.replica.split(":", 1)[0]) for s in collector.seen],
        )
    finally:
        await collector.stop()
        for process in processes:
            process.stop(timeout=10)
