"""A Linux network namespace joined to the host by a veth pair: a place to run one process whose
network a test can cut (link down) and restore, while everything else keeps running.

    host namespace                         namespace `latchkey-<pid>-<hex>`
    <host_link>  10.213.N.1/24  <-- veth -->  <ns_link> 10.213.N.2/24, lo up

Servers the isolated process needs listen on `host_address` (the host reaches it too, also while
the link is cut: only the namespace's end goes down). `exec_prefix()` runs a command inside.
Needs root (CAP_NET_ADMIN) and iproute2; `unavailable()` says why not, for a skip.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SUBNET_PREFIX = "10.213"  # a /24 per namespace: 10.213.N.0/24, N picked among the unused ones
_NAME = re.compile(r"^latchkey-(\d+)-[0-9a-f]+$")


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be created here (not root, no iproute2, no kernel support)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["ip", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def unavailable() -> str | None:
    """Why a network namespace cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "creating a network namespace needs root (CAP_NET_ADMIN)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if _ip("netns", "list", check=False).returncode != 0:
        return "`ip netns` does not work here"
    return None


@dataclass(frozen=True)
class IsolatedNetwork:
    name: str
    host_link: str
    ns_link: str
    host_address: str
    ns_address: str

    def exec_prefix(self) -> list[str]:
        """Prepend to a command to run it inside the namespace (`ip netns exec` execs in place, so
        the process id and signals are the command's own)."""
        return ["ip", "netns", "exec", self.name]

    def cut(self) -> None:
        """Link down on the namespace's end: its route to the host disappears at once, so every
        connection of the processes inside fails or stalls, and new ones are refused."""
        _ip("-n", self.name, "link", "set", self.ns_link, "down")

    def restore(self) -> None:
        _ip("-n", self.name, "link", "set", self.ns_link, "up")

    def remove(self) -> None:
        """Delete the namespace (which deletes the veth pair); idempotent."""
        _ip("netns", "delete", self.name, check=False)
        _ip("link", "delete", self.host_link, check=False)


def reap_stale_namespaces() -> list[str]:
    """Delete namespaces left by test processes that died without cleaning up (SIGKILL)."""
    reaped = []
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        match = _NAME.match(name)
        if not match:
            continue
        try:
            os.kill(int(match.group(1)), 0)
            continue  # its owner still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _ip("netns", "delete", name, check=False)
        reaped.append(name)
    return reaped


def _free_subnet() -> int:
    used = _ip("-4", "addr", "show").stdout + _ip("-4", "route", "show", "table", "all").stdout
    candidates = [n for n in range(256) if f"{SUBNET_PREFIX}.{n}." not in used]
    if not candidates:
        raise RuntimeError(f"every {SUBNET_PREFIX}.N.0/24 is in use")
    return secrets.choice(candidates)


@contextmanager
def isolated_network() -> Iterator[IsolatedNetwork]:
    """Create the namespace and its veth pair; delete both on exit, whatever happened."""
    reason = unavailable()
    if reason is not None:
        raise NetnsUnavailable(reason)
    reap_stale_namespaces()
    tag = secrets.token_hex(3)
    subnet = _free_subnet()
    net = IsolatedNetwork(
        name=f"latchkey-{os.getpid()}-{tag}",
        host_link=f"lk{tag}h",  # interface names: at most 15 characters
        ns_link=f"lk{tag}n",
        host_address=f"{SUBNET_PREFIX}.{subnet}.1",
        ns_address=f"{SUBNET_PREFIX}.{subnet}.2",
    )
    created = _ip("netns", "add", net.name, check=False)
    if created.returncode != 0:
        raise NetnsUnavailable(f"ip netns add failed: {created.stderr.strip()}")
    try:
        _ip("link", "add", net.host_link, "type", "veth", "peer", "name", net.ns_link, "netns", net.name)
        _ip("addr", "add", f"{net.host_address}/24", "dev", net.host_link)
        _ip("link", "set", net.host_link, "up")
        _ip("-n", net.name, "addr", "add", f"{net.ns_address}/24", "dev", net.ns_link)
        _ip("-n", net.name, "link", "set", net.ns_link, "up")
        _ip("-n", net.name, "link", "set", "lo", "up")
        yield net
    finally:
        net.remove()
