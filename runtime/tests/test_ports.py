"""free_port: the health ports of services started together never collide."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from latchkey.runtime.testing import free_port
from latchkey.runtime.testing.ports import SPAN, ephemeral_range, server_ports

ROOT = Path(__file__).resolve().parents[2]


def test_ports_are_never_handed_out_twice_and_lie_below_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    ports = [free_port() for _ in range(500)]
    assert len(set(ports)) == len(ports)
    assert not [p for p in ports if low <= p <= high]
    servers = []
    try:
        for port in ports[:50]:  # each one a server really can listen on
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            servers.append(server)
            server.bind(("127.0.0.1", port))
            server.listen()
        # and, with those listening, the next ports are still others
        assert not set(free_port() for _ in range(50)) & set(ports)
    finally:
        for server in servers:
            server.close()


def test_the_local_servers_ports_are_distinct_and_lie_below_the_services_range() -> None:
    """deploy/local/free-ports (Kafka, PostgreSQL) prints `server_ports`: never a port the kernel or
    `free_port` would hand out."""
    low, _ = ephemeral_range()
    printed = subprocess.run(
        [sys.executable, str(ROOT / "deploy/local/free-ports"), "5"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for ports in ([int(p) for p in printed], server_ports(20)):
        assert len(set(ports)) == len(ports)
        assert all(low - 2 * SPAN <= p < low - SPAN for p in ports), ports
