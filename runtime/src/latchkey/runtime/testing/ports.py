"""Free TCP ports for the servers that tests, benchmarks and the demo start as separate processes."""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_handed_out: set[int] = set()
_lock = threading.Lock()
# How far below the kernel's ephemeral range ports are chosen.
_SPAN = 8_000


def _ephemeral_range() -> tuple[int, int]:
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
    low, _ = _ephemeral_range()
    with _lock:
        if low > 1_024 + _SPAN:
            for _ in range(200):
                port = random.randrange(low - _SPAN, low)
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
