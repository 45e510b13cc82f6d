"""A Latchkey service process: FastStream app + broker, topics verified, migrations run, outbox relay,
health endpoint, graceful SIGTERM. Each service builds one `Service` in its `app.py` and adds handlers."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from aiokafka.errors import KafkaError
from faststream import FastStream

from latchkey.contracts import Topic

from .consuming import DeadLetterWriter, Handler, subscribe
from .db import ServiceTables, database_location, make_engine, make_sessions
from .health import HealthServer
from .kafka import TopicsNotCreated, adopt_group_offsets, ensure_topics, make_broker, make_producer
from .migrations import upgrade_async
from .observability import configure_logging, configure_tracing, get_logger
from .outbox import OutboxRelay
from .settings import ServiceSettings
from .unit_of_work import UnitOfWork

log = get_logger(__name__)
T = TypeVar("T")


class StartupFailed(Exception):
    """Something the operator must fix before the service can start (a port taken, Kafka or the
    database out of reach): logged as one line naming the setting, and the process exits with status 2."""


class Service:
    """Wiring shared by every service. `schema`/`migrations` are None for the connector (no database)."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        topics: Iterable[Topic],
        schema: str | None = None,
        migrations: str | None = None,
        configure_process: bool = True,
    ) -> None:
        self.settings = settings
        self.name = settings.service_name
        if configure_process:
            configure_logging(self.name, settings.log_level, settings.log_json)
            configure_tracing(self.name, settings.otel_exporter)
        self.topics = list(topics)
        self.schema = schema
        self.migrations = migrations
        self.broker = make_broker(settings)
        self.app = FastStream(self.broker, logger=None)
        self.health = HealthServer(
            settings.health_host,
            settings.health_port,
            identity={"service": settings.service_name, "instance": settings.instance_id},
        )
        self.dead_letters: list[DeadLetterWriter] = []
        self._startup: list[Callable[[], Awaitable[None]]] = []
        self._shutdown: list[Callable[[], Awaitable[None]]] = []
        self._adoptions: list[tuple[str, list[str], list[str]]] = []  # group, its topics, earlier groups
        if schema is not None:
            self.tables: ServiceTables | None = ServiceTables(schema)
            self.engine = make_engine(settings.sync_database_url)
            self.sessions = make_sessions(self.engine)
            # No linger for the relay: it hands the producer whole record batches, and aiokafka would
            # still hold each one for linger_ms (measured on an idle broker: ack 3.6 ms → 1.4 ms).
            self.relay: OutboxRelay | None = OutboxRelay(
                self.engine, lambda: make_producer(settings, linger_ms=0), self.tables
            )
            self.health.add_check("database", self._database_ok)
        else:
            self.tables = None
            self.relay = None
        self.health.add_check("kafka", self._kafka_ok)
        self.app.on_startup(self._before_broker)
        self.app.after_startup(self._after_broker)
        self.app.on_shutdown(self._on_shutdown)
        self.app.after_shutdown(self._after_shutdown)

    # -- building blocks for handlers -------------------------------------------------------------
    def unit_of_work(self) -> UnitOfWork:
        if self.tables is None:
            raise RuntimeError(f"{self.name} has no database")
        on_commit = self.relay.committed if self.relay else None
        return UnitOfWork(self.sessions, self.tables, self.settings, on_commit=on_commit)

    def subscribe(
        self,
        topic: Topic | Sequence[Topic],
        handler: Handler,
        *,
        group_id: str | None = None,
        adopt_offsets_from: Sequence[str] = (),
        **options: Any,
    ) -> None:
        """Consume `topic` (one or several) in this service's consumer group (or `group_id`) with
        `handler`. `adopt_offsets_from`: the groups an earlier version read these topics in; a new
        group starts where they stopped (`adopt_group_offsets`)."""
        group = group_id or self.name
        writer = subscribe(self.broker, self.settings, topic, handler, group_id=group, **options)
        self.dead_letters.append(writer)
        if adopt_offsets_from:
            topics = [topic] if isinstance(topic, Topic) else topic
            self._adoptions.append(
                (
                    self.settings.group(group),
                    [self.settings.topic(t.name) for t in topics],
                    [self.settings.group(g) for g in adopt_offsets_from],
                )
            )

    def on_startup(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` after the broker connected and before readiness (e.g. load caches, start timers)."""
        self._startup.append(hook)

    def on_shutdown(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._shutdown.append(hook)

    # -- lifecycle --------------------------------------------------------------------------------
    async def _before_broker(self) -> None:
        settings = self.settings
        log.info(
            "service starting",
            service=self.name,
            kafka=settings.kafka_bootstrap,
            kafka_security=settings.kafka_security_protocol,
            topic_prefix=settings.topic_prefix,
            database=database_location(settings.sync_database_url) if self.schema is not None else None,
        )
        try:
            await self.health.start()
        except OSError as exc:
            raise StartupFailed(
                f"the health endpoint cannot listen on {settings.health_host}:{settings.health_port} "
                f"(LATCHKEY_HEALTH_HOST, LATCHKEY_HEALTH_PORT): {exc.strerror or exc}"
            ) from None
        try:
            await ensure_topics(settings, self.topics)
            for group, topics, previous in self._adoptions:
                await adopt_group_offsets(settings, group, topics, previous)
        except TopicsNotCreated as exc:
            raise StartupFailed(str(exc)) from None
        except (KafkaError, OSError) as exc:
            detail = str(exc) if type(exc).__name__ in str(exc) else f"{type(exc).__name__}: {exc}"
            raise StartupFailed(
                f"cannot reach Kafka at {settings.kafka_bootstrap} (LATCHKEY_KAFKA_BOOTSTRAP, "
                f"LATCHKEY_KAFKA_SECURITY_PROTOCOL, LATCHKEY_KAFKA_STARTUP_TIMEOUT_SECONDS): {detail}"
            ) from None
        if self.schema is not None and self.migrations is not None:
            try:
                await upgrade_async(settings.sync_database_url, self.migrations, self.schema)
            except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
                raise StartupFailed(
                    f"cannot reach PostgreSQL at {database_location(settings.sync_database_url)} "
                    f"(LATCHKEY_DATABASE_URL): {type(getattr(exc, 'orig', exc) or exc).__name__}"
                ) from None

    async def _after_broker(self) -> None:
        if self.relay is not None:
            await self.relay.start()
        for hook in self._startup:
            try:
                await hook()
            except TopicsNotCreated as exc:  # e.g. flow-engine's command topics of known connectors
                raise StartupFailed(str(exc)) from None
        # Everything built so far (modules, SQLAlchemy and Pydantic machinery, caches loaded by the
        # hooks) lives as long as the process: move it out of the collector's sight. A full
        # collection otherwise walks all of it and stopped the process for 80-150 ms at a time under
        # load (the slowest decisions); now it walks only what was created since.
        gc.collect()
        gc.freeze()
        # Python's default collects the youngest generation every 700 container allocations, and a
        # batch allocates many times that (models, rows, spans), though reference counting frees
        # almost all of it first. Collecting every `gc_young_threshold` instead: flow_engine_throughput,
        # alternated four times with the default, spent 0.171-0.189 against 0.201-0.238 ms of CPU per
        # decision in its burst. Older generations: every 50 young ones, every 100 of those.
        gc.set_threshold(self.settings.gc_young_threshold, 50, 100)
        self.health.ready = True
        log.info("service ready", service=self.name, health_port=self.health.port, event_loop=loop_name())

    async def _on_shutdown(self) -> None:
        self.health.ready = False
        log.info("service stopping", service=self.name)

    async def _after_shutdown(self) -> None:
        # The broker has drained in-flight handlers and committed; now flush what they emitted.
        for hook in reversed(self._shutdown):
            await hook()
        if self.relay is not None:
            await self.relay.stop()
            await self.engine.dispose()
        await self.health.stop()
        log.info("service stopped", service=self.name)

    async def _database_ok(self) -> bool:
        async with self.engine.connect() as conn:
            return bool((await conn.scalar(sa.text("SELECT 1"))) == 1)

    async def _kafka_ok(self) -> bool:
        return bool(await self.broker.ping(timeout=3.0))

    async def run(self) -> None:
        await self.app.run()

    def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT on the event loop the settings name (`LATCHKEY_EVENT_LOOP`). What
        stops it from starting is one log line and exit status 2 (an orchestrator restarts it)."""
        try:
            run_on(self.settings.event_loop, self.run())
        except StartupFailed as exc:
            log.error("service cannot start", service=self.name, reason=str(exc))
            sys.exit(2)


def loop_name() -> str:
    """The running event loop's implementation: "uvloop" or "asyncio"."""
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


def run_on(loop: str, main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to completion on a new event loop of kind `loop` ("uvloop" or "asyncio").

    uvloop, libuv under asyncio's interface, is the default: in `e2e_grant`, alternated with asyncio's
    own loop, the services reached their grants' p50 sooner (docs/operations.md, "Twelfth round").
    Where it is not installed (it has no Windows build) the service says so and runs on asyncio."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            log.warning("uvloop is not installed: running on asyncio's event loop")
        else:
            return uvloop.run(main)
    return asyncio.run(main)
