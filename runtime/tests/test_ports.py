"""free_port: the health ports of services started together never collide."""

from __future__ import annotations

import socket

from latchkey.runtime.testing import free_port
from latchkey.runtime.testing.ports import _ephemeral_range


def test_ports_are_never_handed_out_twice_and_lie_below_the_ephemeral_range() -> None:
    low, high = _ephemeral_range()
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
