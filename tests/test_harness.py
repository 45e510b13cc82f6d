"""The process harness the system tests stand on: it must not take another process's answer for a
replica's readiness."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from latchkey.runtime.health import HealthServer
from latchkey.runtime.testing.ports import free_port
from tests.support.processes import ServiceFailed, ServiceProcess, ServiceSpec


async def test_a_replica_whose_health_port_another_process_answers_on_is_not_ready(tmp_path: Path) -> None:
    """Seen in CI: two replicas given one health port. The second could not listen and exited, but the
    first answered its readiness probes, and the harness went on with a replica that was not there."""
    port = free_port()
    squatter = HealthServer("127.0.0.1", port, identity={"service": "identity-sync", "instance": "other"})
    squatter.ready = True
    await squatter.start()
    process = ServiceProcess(
        ServiceSpec(
            name="connector-under-test",
            package="connector",
            env={"LATCHKEY_HEALTH_PORT": str(port), "LATCHKEY_KAFKA_BOOTSTRAP": "127.0.0.1:9"},
        ),
        tmp_path,
    )
    process.start()
    try:
        with pytest.raises(ServiceFailed) as failed:
            await asyncio.to_thread(process.wait_ready, 20)
        assert "connector-under-test" in str(failed.value)
    finally:
        process.kill()
        await squatter.stop()
