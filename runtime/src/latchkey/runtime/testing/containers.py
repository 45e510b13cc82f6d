"""The testcontainers path: ``apache/kafka`` (KRaft) and ``postgres`` images via a Docker engine.

testcontainers-python's own KafkaContainer drives the Confluent image's scripts, so this module
carries a small container class for the Apache image, following testcontainers-java's
``org.testcontainers.kafka.KafkaContainer``: the container waits for a start script that we copy in
once the host port is known, because the advertised listener must name the mapped host port.
"""

from __future__ import annotations

import io
import tarfile
import time
from typing import Any

from testcontainers.core.container import DockerContainer

try:  # testcontainers >= 4.10 moved the modules under `community`
    from testcontainers.community.postgres import PostgresContainer
except ImportError:  # pragma: no cover - older 4.x
    from testcontainers.postgres import PostgresContainer  # type: ignore[no-redef,unused-ignore]

from latchkey.runtime.testing.infra import Infra, InfraHandle, libpq_url, sqlalchemy_url

KAFKA_IMAGE = "apache/kafka:4.1.1"
POSTGRES_IMAGE = "postgres:16"
_START_SCRIPT = "/tmp/latchkey_start.sh"  # noqa: S108 - a path inside the container


class ApacheKafkaContainer(DockerContainer):
    """Single-node KRaft broker+controller from the ``apache/kafka`` image."""

    PORT = 9092  # clients (advertised as the mapped host port)

    def __init__(self, image: str = KAFKA_IMAGE, **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.with_exposed_ports(self.PORT)
        env = {
            "KAFKA_NODE_ID": "1",
            "KAFKA_PROCESS_ROLES": "broker,controller",
            "KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9093,CONTROLLER://0.0.0.0:9094",
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": (
                "BROKER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
            ),
            "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
            "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9094",
            "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
            "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
            "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
            "KAFKA_NUM_PARTITIONS": "3",
            # Same as deploy/local/kafka: services create their topics explicitly.
            "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
        }
        for k, v in env.items():
            self.with_env(k, v)
        # The image's entrypoint execs its arguments; wait for the script, then run it.
        self.with_command(
            ["sh", "-c", f"while [ ! -f {_START_SCRIPT} ]; do sleep 0.1; done; sh {_START_SCRIPT}"]
        )

    def get_bootstrap_server(self) -> str:
        return f"{self.get_container_host_ip()}:{self.get_exposed_port(self.PORT)}"

    def start(self, timeout: float = 120) -> ApacheKafkaContainer:
        super().start()
        script = (
            "#!/bin/sh\n"
            f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{self.get_bootstrap_server()},"
            "BROKER://$(hostname):9093\n"
            "exec /etc/kafka/docker/run\n"
        ).encode()
        self._put_file(_START_SCRIPT, script)
        _wait_for_log(self, "Kafka Server started", timeout)
        return self

    def _put_file(self, path: str, content: bytes) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            info = tarfile.TarInfo(name=path.lstrip("/"))
            info.size = len(content)
            info.mode = 0o755
            info.mtime = int(time.time())
            tar.addfile(info, io.BytesIO(content))
        buf.seek(0)
        self.get_wrapped_container().put_archive("/", buf.getvalue())


def _wait_for_log(container: DockerContainer, message: str, timeout: float) -> None:
    try:
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy
    except ImportError:  # pragma: no cover - testcontainers < 4.13
        from testcontainers.core.waiting_utils import wait_for_logs

        wait_for_logs(container, message, timeout=timeout)
        return
    LogMessageWaitStrategy(message).with_startup_timeout(int(timeout)).wait_until_ready(container)


def start_containers() -> InfraHandle:
    """Start both containers; the handle removes them on stop (Ryuk also reaps them on a crash)."""
    handle = InfraHandle(Infra("", "", "", mode="testcontainers"))
    try:
        pg = PostgresContainer(
            POSTGRES_IMAGE, username="latchkey", password="latchkey", dbname="latchkey", driver="psycopg"
        )
        # The same durability defaults as the local server; only more connections for tests.
        pg.with_command("postgres -c max_connections=300")
        handle._cleanups.append(pg.stop)
        pg.start()
        kafka = ApacheKafkaContainer()
        handle._cleanups.append(kafka.stop)
        kafka.start()
        url = pg.get_connection_url()
        handle.infra = Infra(
            kafka_bootstrap=kafka.get_bootstrap_server(),
            database_url=sqlalchemy_url(url),
            admin_database_url=libpq_url(url),
            mode="testcontainers",
        )
        return handle
    except BaseException:
        handle.stop()
        raise
