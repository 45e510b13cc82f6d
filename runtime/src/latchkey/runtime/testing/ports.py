"""Free TCP ports for the servers that tests, benchmarks and the demo start as separate processes.

Two ranges below the kernel's ephemeral range, so no outgoing connection can take a port before its
server binds it: the `SPAN` just below it for the services (`free_port`), and the `SPAN` below that
for the local Kafka and PostgreSQL (`server_ports`, which deploy/local/free-ports prints; an HA test
restarts those servers on their old ports). Standard library only: deploy/local loads this file
before any virtual environment exists.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_handed_out: set[int] = set()
_lock = threading.Lock()
SPAN = 8_000
"""Width of each range of ports below the kernel's ephemeral range."""


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32_768, 60_999  # Linux's default


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing is bound to now and that this process never handed out before.

    The port is chosen below the kernel's ephemeral range, so the outgoing connections every client
    opens meanwhile (to Kafka, to PostgreSQL) cannot take it before the server that was given it
    binds. And a port is handed out once per process: asking the kernel for port 0 twice can give the
    same port twice once the first probe socket has closed, and two services started together were
    once given one health port (the second could not listen, and the first answered its readiness
    probes)."""
    low, _ = ephemeral_range()
    with _lock:
        if low > 1_024 + SPAN:
            for _ in range(200):
                port = random.randrange(low - SPAN, low)
                if port not in _handed_out and _bindable(host, port):
                    _handed_out.add(port)
                    return port
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError(f"no free TCP port on {host} that was not handed out already")


def server_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` distinct free TCP ports on `host` for the local Kafka and PostgreSQL: the `SPAN` below
    the services' range, so the ports `free_port` hands out are always others. All are held open
    while choosing, so none repeats."""
    low, _ = ephemeral_range()
    held: list[socket.socket] = []
    try:
        for _ in range(2_000):
            if len(held) == count:
                break
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(
                    (host, random.randrange(low - 2 * SPAN, low - SPAN) if low > 1_024 + 2 * SPAN else 0)
                )
            except OSError:
                sock.close()
                continue
            held.append(sock)
        if len(held) < count:
            raise RuntimeError(f"found {len(held)} of {count} free ports on {host}")
        return [int(sock.getsockname()[1]) for sock in held]
    finally:
        for sock in held:
            sock.close()
