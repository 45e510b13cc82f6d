"""A single KRaft Kafka node of its own for tests that need a broker configured unlike the shared one
(authentication, TLS, an authorizer): from the Maven Central jars `deploy/local/kafka` fetches, with
SCRAM users made at format time (as `kafka-storage format --add-scram` does)."""

from __future__ import annotations

import base64
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from .infra import cache_dir, repo_root
from .ports import free_port

KAFKA_VERSION = "4.1.1"


class NodeUnavailable(RuntimeError):
    """No java here, or the node did not start (the message ends with its log)."""


def kafka_libs() -> Path:
    libs = cache_dir() / f"kafka-{KAFKA_VERSION}" / "libs"
    if not libs.is_dir():
        fetch = [str(repo_root() / "deploy" / "local" / "kafka"), "fetch"]
        subprocess.run(fetch, check=True, timeout=600)  # noqa: S603 - our own script, fixed arguments
    return libs


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def kafka_node(
    home: Path,
    listeners: Mapping[str, str],
    *,
    inter_broker: str,
    properties: Sequence[str] = (),
    scram_users: Mapping[str, str] | None = None,
) -> Iterator[dict[str, str]]:
    """Run one broker+controller node in `home` until the block ends; yields listener name → its
    `127.0.0.1:port`.

    `listeners` maps each client listener's name to its security protocol (e.g. `{"SASL_SSL":
    "SASL_SSL", "ADMIN": "PLAINTEXT"}`); `properties` are added to server.properties as they are
    (per-listener settings such as `listener.name.<name>.…`); `scram_users` (name → password) are
    SCRAM-SHA-512 users."""
    if shutil.which("java") is None:
        raise NodeUnavailable("no java: the broker runs from the Maven Central jars")
    ports = {name: free_port() for name in listeners}
    controller = free_port()
    addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    protocols = {**listeners, "CONTROLLER": "PLAINTEXT"}
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        "listeners="
        + ",".join([*(f"{n}://{a}" for n, a in addresses.items()), f"CONTROLLER://127.0.0.1:{controller}"]),
        "advertised.listeners=" + ",".join(f"{n}://{a}" for n, a in addresses.items()),
        "controller.listener.names=CONTROLLER",
        f"inter.broker.listener.name={inter_broker}",
        "listener.security.protocol.map=" + ",".join(f"{n}:{p}" for n, p in protocols.items()),
        f"log.dirs={home / 'data'}",
        "num.partitions=3",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        *properties,
    ]
    config = home / "server.properties"
    config.write_text("\n".join(lines) + "\n")
    java = ["java", "-Xmx384m", "-XX:+UseSerialGC", "-Dlog4j2.level=WARN", "-cp", f"{kafka_libs()}/*"]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=").replace("-", "A")
    scram = [
        arg
        for name, password in (scram_users or {}).items()
        for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")
    ]
    subprocess.run(  # noqa: S603 - java with the arguments built here
        [
            *java,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            f"--config={config}",
            *scram,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    log_path = home / "kafka.log"
    with log_path.open("wb") as log:
        node = subprocess.Popen(  # noqa: S603 - java with the arguments built here
            [*java, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 90
            while not all(_accepts(port) for port in ports.values()):  # they open once it has started
                if node.poll() is not None or time.monotonic() > deadline:
                    raise NodeUnavailable(f"the broker did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.2)
            yield addresses
        finally:
            node.terminate()
            try:
                node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                node.kill()
                node.wait()
