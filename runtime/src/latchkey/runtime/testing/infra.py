"""Real Kafka + PostgreSQL for tests, the demo and benchmarks.

Three ways to get them, chosen by `LATCHKEY_TEST_INFRA`:

- ``local``: run ``deploy/local/kafka`` and ``deploy/local/postgres`` (real servers from the Maven
  Central jars and Debian's packages, on loopback) in a fresh state dir, stopped at teardown.
- ``testcontainers``: the ``apache/kafka`` and ``postgres`` images through a Docker engine.
- ``external``: use ``LATCHKEY_KAFKA_BOOTSTRAP`` / ``LATCHKEY_DATABASE_URL``; start nothing. The
  broker is left as it was found: at `InfraHandle.stop()` the topics under every prefix this process
  took from `unique_prefix` are deleted (a long-lived development broker otherwise collects
  thousands of test partitions, which slows it down).

Default: ``testcontainers`` when ``docker info`` answers, else ``local``. Nothing here is a mock.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

MODES = ("local", "testcontainers", "external")


class InfraError(RuntimeError):
    """The infrastructure could not be started or reached."""


@dataclass(frozen=True)
class Infra:
    """Where the running broker and server are."""

    kafka_bootstrap: str
    database_url: str  # SQLAlchemy async form: postgresql+psycopg://user:pw@host:port/db
    admin_database_url: str  # libpq form (postgresql://...) of a superuser, for psycopg.connect
    mode: str = "local"


# --------------------------------------------------------------------------- URLs and databases


def sqlalchemy_url(url: str) -> str:
    """`postgresql://...` or `postgresql+<driver>://...` → `postgresql+psycopg://...`."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql+psycopg://", url)


def libpq_url(url: str) -> str:
    """Any postgres URL → the plain form psycopg.connect and psql take."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def _with_database(url: str, name: str) -> str:
    # Replace only the path of the URL, keep scheme, credentials, host and query.
    m = re.match(r"^(?P<head>[^/]+//[^/]*)(/(?P<db>[^?]*))?(?P<query>\?.*)?$", url)
    if not m:
        raise ValueError(f"not a database URL: {url!r}")
    return f"{m['head']}/{name}{m['query'] or ''}"


def database_name(url: str) -> str:
    m = re.match(r"^[^/]+//[^/]*/([^?]+)", url)
    if not m:
        raise ValueError(f"URL names no database: {url!r}")
    return m.group(1)


def safe_database_name(hint: str) -> str:
    """A valid, unique PostgreSQL database name derived from `hint` (e.g. a test's name)."""
    base = re.sub(r"[^a-z0-9_]+", "_", hint.lower()).strip("_") or "db"
    suffix = secrets.token_hex(3)
    # 63 bytes is PostgreSQL's identifier limit; keep the random suffix so names never collide.
    return f"t_{base[: 63 - len(suffix) - 3]}_{suffix}"


def create_database(admin_url: str, name: str) -> str:
    """Create database `name` (exactly; see safe_database_name) and return its URL.

    The URL has the same form (SQLAlchemy or libpq) as `admin_url`.
    """
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return _with_database(admin_url, name)


def drop_database(admin_url: str, name_or_url: str) -> None:
    """Drop a database, disconnecting any session still in it (tests may leak pools)."""
    name = database_name(name_or_url) if "://" in name_or_url else name_or_url
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


_ISSUED_PREFIXES: set[str] = set()


def unique_prefix(label: str = "t") -> str:
    """A short random topic prefix, e.g. ``t3f9a1c2e.``; it ends with the separator, so it is
    prepended as is (``LATCHKEY_TOPIC_PREFIX`` + ``access.requests.v1``). Remembered, so that the
    topics made under it can be deleted from a broker that outlives this process
    (`delete_prefixed_topics`)."""
    if not re.fullmatch(r"[a-z][a-z-]{0,15}", label):
        raise ValueError(f"a prefix label is 1-16 lowercase letters or '-', not {label!r}")
    prefix = f"{label}{secrets.token_hex(4)}."
    _ISSUED_PREFIXES.add(prefix)
    return prefix


def issued_prefixes() -> frozenset[str]:
    """Every prefix `unique_prefix` has handed out in this process."""
    return frozenset(_ISSUED_PREFIXES)


def delete_prefixed_topics(bootstrap: str, prefixes: Iterable[str], timeout_s: float = 60.0) -> list[str]:
    """Delete the topics whose names start with one of `prefixes` (each must end with '.', as
    `unique_prefix`'s do, so ``t1.`` never matches ``t12.…``); returns their names."""
    wanted = tuple(prefixes)
    if not wanted:
        return []
    if not all(p.endswith(".") and len(p) > 1 for p in wanted):
        raise ValueError("topic prefixes to delete must end with '.'")
    return asyncio.run(_delete_prefixed_topics(bootstrap, wanted, timeout_s))


def leave_broker_as_found(bootstrap: str) -> None:
    """Delete the topics under the prefixes this process took (`issued_prefixes`), as external mode does
    at the end of a run. Best effort: a broker gone by then is reported on stderr and fails no run."""
    try:
        delete_prefixed_topics(bootstrap, issued_prefixes())
    except Exception as exc:
        print(f"latchkey test infra: could not delete this run's topics: {exc}", file=sys.stderr)


async def _delete_prefixed_topics(bootstrap: str, prefixes: tuple[str, ...], timeout_s: float) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap.split(","), request_timeout_ms=int(timeout_s * 1000)
    )
    await admin.start()
    try:
        doomed = sorted(t for t in await admin.list_topics() if t.startswith(prefixes))
        for start in range(0, len(doomed), 100):  # one request need not carry thousands of names
            await admin.delete_topics(doomed[start : start + 100], timeout_ms=int(timeout_s * 1000))
        return doomed
    finally:
        await admin.close()


# --------------------------------------------------------------------------- local scripts


def repo_root() -> Path:
    """The checkout holding deploy/local (override with LATCHKEY_REPO_ROOT)."""
    if env := os.environ.get("LATCHKEY_REPO_ROOT"):
        return Path(env)
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for p in (start, *start.parents):
            if (p / "deploy" / "local" / "kafka").is_file():
                return p
    raise InfraError("cannot find deploy/local/kafka; set LATCHKEY_REPO_ROOT to the repository")


def cache_dir() -> Path:
    return Path(os.environ.get("LATCHKEY_CACHE") or Path.home() / ".cache" / "latchkey")


def helm_binary() -> str | None:
    """helm on PATH, or the one `make setup` built into the cache (deploy/helm/check --install); None
    where there is neither (the chart's tests are then skipped, saying so)."""
    built = cache_dir() / "bin" / "helm"
    return shutil.which("helm") or (str(built) if built.is_file() else None)


def _run_script(script: str, *args: str, state_dir: Path, timeout: float = 300) -> str:
    # Readiness on a busy 2-core machine (a restarted node replays its log) can take over a minute.
    env = {"LATCHKEY_KAFKA_READY_TIMEOUT": "180", **os.environ, "LATCHKEY_STATE_DIR": str(state_dir)}
    proc = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(repo_root() / "deploy" / "local" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise InfraError(
            f"deploy/local/{script} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}"
        )
    return proc.stdout.strip()


@dataclass
class KafkaCluster:
    """A cluster started by ``deploy/local/kafka`` in `state_dir`; node ids start at 1."""

    state_dir: Path

    @property
    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = json.loads((self.state_dir / "kafka.json").read_text())
        return info

    @property
    def bootstrap(self) -> str:
        return str(self.info["bootstrap"])

    @property
    def node_ids(self) -> list[int]:
        return [int(n["id"]) for n in self.info["nodes"]]

    @property
    def host(self) -> str:
        """The address every node binds and advertises (127.0.0.1 unless started with `host`)."""
        return str(self.info.get("host", "127.0.0.1"))

    def node_bootstrap(self, node_id: int) -> str:
        node = next(n for n in self.info["nodes"] if n["id"] == node_id)
        return f"{node.get('host', '127.0.0.1')}:{node['port']}"

    def kill_node(self, node_id: int) -> None:
        """kill -9 one node; its data stays for start_node."""
        _run_script("kafka", "kill-node", str(node_id), state_dir=self.state_dir)

    def start_node(self, node_id: int) -> None:
        """Restart a killed node with the same data and ports; returns once it is ready."""
        _run_script("kafka", "start-node", str(node_id), state_dir=self.state_dir)

    def is_running(self, node_id: int) -> bool:
        pid = (self.state_dir / "kafka" / f"node-{node_id}" / "pid").read_text().strip()
        try:
            os.kill(int(pid), 0)
        except (OSError, ValueError):
            return False
        return True

    @classmethod
    def start(cls, state_dir: Path, nodes: int = 1, host: str = "127.0.0.1") -> KafkaCluster:
        state_dir.mkdir(parents=True, exist_ok=True)
        _run_script("kafka", "start", "--nodes", str(nodes), "--host", host, state_dir=state_dir)
        return cls(state_dir)

    def stop(self) -> None:
        _run_script("kafka", "stop", state_dir=self.state_dir)


def new_state_dir() -> Path:
    """A fresh state dir owned by this process (its pid is recorded for reap_stale_state_dirs)."""
    d = cache_dir() / "state" / uuid.uuid4().hex[:12]
    d.mkdir(parents=True)
    (d / "owner.pid").write_text(str(os.getpid()))
    return d


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale_state_dirs() -> list[Path]:
    """Stop servers and delete state dirs left by test sessions that were killed (SIGKILL skips
    every teardown). Only dirs made by new_state_dir whose owner process is gone are touched."""
    reaped = []
    root = cache_dir() / "state"
    for d in root.glob("*/owner.pid") if root.is_dir() else []:
        state = d.parent
        try:
            owner = int(d.read_text().strip())
        except (OSError, ValueError):
            continue
        if _pid_alive(owner):
            continue
        for script in ("kafka", "postgres"):
            try:
                _run_script(script, "stop", state_dir=state, timeout=60)
            except (InfraError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(state, ignore_errors=True)
        reaped.append(state)
    return reaped


# --------------------------------------------------------------------------- handle


@dataclass
class InfraHandle:
    """Running infrastructure plus how to tear it down. `stop()` is idempotent."""

    infra: Infra
    kafka: KafkaCluster | None = None  # set in local mode (HA helpers)
    state_dir: Path | None = None
    _cleanups: list[Callable[[], object]] = field(default_factory=list)

    def stop(self) -> None:
        errors = []
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception as e:  # keep tearing down the rest
                errors.append(e)
        if errors:
            raise InfraError(f"teardown failed: {errors}")

    def __enter__(self) -> InfraHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return (
            subprocess.run(
                ["docker", "info"],  # noqa: S607
                capture_output=True,
                timeout=15,
                check=False,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def default_mode() -> str:
    mode = os.environ.get("LATCHKEY_TEST_INFRA", "").strip().lower()
    if mode:
        if mode not in MODES:
            raise InfraError(f"LATCHKEY_TEST_INFRA must be one of {MODES}, not {mode!r}")
        return mode
    return "testcontainers" if docker_available() else "local"


def start_infra(mode: str | None = None, nodes: int = 1) -> InfraHandle:
    """Start (or locate) Kafka with `nodes` brokers and PostgreSQL; call `.stop()` when done."""
    mode = mode or default_mode()
    if mode == "external":
        return _start_external()
    if mode == "testcontainers":
        from latchkey.runtime.testing.containers import start_containers

        if nodes != 1:
            raise InfraError("testcontainers mode runs one Kafka node; use LATCHKEY_TEST_INFRA=local for HA")
        return start_containers()
    if mode == "local":
        return start_local(nodes=nodes)
    raise InfraError(f"unknown infra mode {mode!r}")


def _start_external() -> InfraHandle:
    bootstrap = os.environ.get("LATCHKEY_KAFKA_BOOTSTRAP")
    url = os.environ.get("LATCHKEY_DATABASE_URL")
    if not bootstrap or not url:
        raise InfraError("external mode needs LATCHKEY_KAFKA_BOOTSTRAP and LATCHKEY_DATABASE_URL")
    handle = InfraHandle(Infra(bootstrap, sqlalchemy_url(url), libpq_url(url), mode="external"))
    handle._cleanups.append(lambda: leave_broker_as_found(bootstrap))
    return handle


def start_local(
    nodes: int = 1,
    state_dir: Path | None = None,
    with_postgres: bool = True,
    kafka_host: str = "127.0.0.1",
) -> InfraHandle:
    """Run both scripts in a fresh state dir; the servers start in parallel.

    `with_postgres=False` starts only Kafka (e.g. a second, 3-node cluster for HA tests); the
    handle's database URLs are then empty. `kafka_host` is the local address Kafka binds and
    advertises (e.g. a veth address that a process in another network namespace can reach).
    """
    if state_dir is None:
        reap_stale_state_dirs()
    state = state_dir or new_state_dir()
    handle = InfraHandle(Infra("", "", ""), state_dir=state)
    handle._cleanups.append(lambda: shutil.rmtree(state, ignore_errors=True))
    # The script's 60 s readiness default is generous on an idle machine; parallel test runs on 2 cores
    # have been seen to need ~50 s for 3 nodes, so allow more unless the caller set it.
    env = {"LATCHKEY_KAFKA_READY_TIMEOUT": "180", **os.environ, "LATCHKEY_STATE_DIR": str(state)}
    scripts = repo_root() / "deploy" / "local"
    try:
        # Register stops before starting so a half-started pair is still torn down.
        if with_postgres:
            handle._cleanups.append(lambda: _run_script("postgres", "stop", state_dir=state))
        handle._cleanups.append(lambda: _run_script("kafka", "stop", state_dir=state))
        procs = {
            name: subprocess.Popen(  # noqa: S603
                [str(scripts / name), "start", *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, args in (("kafka", ["--nodes", str(nodes), "--host", kafka_host]), ("postgres", []))
            if name == "kafka" or with_postgres
        }
        failures = []
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=600)
            if proc.returncode != 0:
                failures.append(f"deploy/local/{name} start failed ({proc.returncode}):\n{err}{out}")
        if failures:
            raise InfraError("\n".join(failures))
        pg_url = json.loads((state / "postgres.json").read_text())["url"] if with_postgres else ""
        handle.kafka = KafkaCluster(state)
        handle.infra = Infra(
            kafka_bootstrap=handle.kafka.bootstrap,
            database_url=sqlalchemy_url(pg_url) if pg_url else "",
            admin_database_url=libpq_url(pg_url) if pg_url else "",
            mode="local",
        )
        return handle
    except BaseException:
        handle.stop()
        raise
