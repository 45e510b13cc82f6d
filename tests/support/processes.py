"""Latchkey services as real operating-system processes, the way an operator runs them.

Each service is `python -m latchkey.<package>` with its configuration in `LATCHKEY_*` environment
variables, its own health port (so readiness is asked over HTTP like a container probe would) and its
stdout/stderr captured to a log file that tests can search (e.g. for a canary secret).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from latchkey.runtime.health import probe
from latchkey.runtime.testing.ports import free_port


class ServiceFailed(RuntimeError):
    """A service process did not become ready, or exited when it should not have."""


@dataclass
class ServiceSpec:
    """How to start one replica: `package` is the part after `latchkey.` (`flow_engine`, `connector`).

    `command_prefix` wraps the command (e.g. `ip netns exec NAME` to run it in a network namespace);
    `health_host` is where its health server listens and is probed (an address the test reaches).
    """

    name: str
    package: str
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    command_prefix: list[str] = field(default_factory=list)
    health_host: str = "127.0.0.1"


class ServiceProcess:
    """One running replica. `start()` then `wait_ready()`; `stop()` is SIGTERM, `kill()` is SIGKILL."""

    def __init__(self, spec: ServiceSpec, log_dir: Path) -> None:
        self.spec = spec
        self.log_path = log_dir / f"{spec.name}.log"
        self.health_port = int(spec.env.get("LATCHKEY_HEALTH_PORT") or free_port())
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def environment(self) -> dict[str, str]:
        # Inherit PATH/HOME etc., but never another test's LATCHKEY_* settings (e.g. the external
        # infra variables): the spec is the whole configuration of this replica.
        base = {k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")}
        return {
            **base,
            "PYTHONUNBUFFERED": "1",
            "LATCHKEY_SERVICE_INSTANCE": self.spec.name,
            "LATCHKEY_INSTANCE_ID": self.spec.name,
            "LATCHKEY_HEALTH_HOST": self.spec.health_host,
            **self.spec.env,
            "LATCHKEY_HEALTH_PORT": str(self.health_port),
        }

    def start(self) -> ServiceProcess:
        if self.running:
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        log.write(f"\n=== start #{self.starts + 1} of {self.name} at {time.time():.3f} ===\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [
                *self.spec.command_prefix,
                sys.executable,
                "-m",
                f"latchkey.{self.spec.package}",
                *self.spec.args,
            ],
            env=self.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal reaches the harness, which stops us in order
        )
        log.close()
        self.starts += 1
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ready(self) -> bool:
        """/readyz answers 200, and the one answering is this replica (not another process that took
        its port: then this one could not listen, and its readiness must not be borrowed)."""
        instance = self.environment()["LATCHKEY_INSTANCE_ID"]
        return probe(self.spec.health_host, self.health_port, "/readyz", timeout=2.0, instance=instance)[0]

    def wait_ready(self, timeout: float = 60.0) -> float:
        """Block until /readyz answers 200; returns the seconds it took. Raises if the process dies."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = self.proc.returncode if self.proc else None
                raise ServiceFailed(f"{self.name} exited ({code}) before ready:\n{self.log_tail()}")
            if self.ready():
                return time.monotonic() - t0
            time.sleep(0.2)
        raise ServiceFailed(f"{self.name} not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (graceful: finish in-flight work), SIGKILL if it does not exit within `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no commits — what a crashed node looks like."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class ServiceGroup:
    """Several replicas started together and always stopped together (also when a test fails)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.processes: dict[str, ServiceProcess] = {}

    def add(self, spec: ServiceSpec) -> ServiceProcess:
        process = ServiceProcess(spec, self.log_dir)
        self.processes[spec.name] = process
        return process

    def __getitem__(self, name: str) -> ServiceProcess:
        return self.processes[name]

    def start(self, *names: str, timeout: float = 90.0) -> dict[str, float]:
        """Start `names` (default: all) in parallel and wait until each is ready; returns seconds each."""
        chosen = [self.processes[n] for n in names] if names else list(self.processes.values())
        for process in chosen:
            process.start()
        return {process.name: process.wait_ready(timeout) for process in chosen}

    def stop_all(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def logs(self) -> Mapping[str, str]:
        return {name: process.log_text() for name, process in self.processes.items()}

    def describe_failure(self) -> str:
        """Every replica's state and last log lines, for an assertion message."""
        parts = []
        for process in self.processes.values():
            state = (
                "running" if process.running else f"exited {process.proc.returncode if process.proc else '-'}"
            )
            parts.append(f"--- {process.name} ({state}) {process.log_path}\n{process.log_tail(15)}")
        return "\n".join(parts)


@contextmanager
def running_services(log_dir: Path, *specs: ServiceSpec, timeout: float = 90.0) -> Iterator[ServiceGroup]:
    """Start `specs` as processes, wait for readiness, and stop every one of them on exit."""
    group = ServiceGroup(log_dir)
    for spec in specs:
        group.add(spec)
    try:
        group.start(timeout=timeout)
        yield group
    finally:
        group.stop_all()
