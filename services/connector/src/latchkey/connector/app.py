"""The connector process: one consumer group per connector id, results published before commit."""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from typing import Any

from aiokafka import AIOKafkaProducer
from opentelemetry import trace
from opentelemetry.propagate import inject

from latchkey.contracts import INVENTORY, RESULTS, ConnectorCommand, connector_commands
from latchkey.runtime import Batch, Received, Service
from latchkey.runtime.kafka import kafka_connection, make_producer
from latchkey.runtime.observability import get_logger
from latchkey.runtime.signing import CommandVerifier

from .config import ConnectorConfig, load_config
from .domain.replay import Executed, ExecutedCommands
from .integrations import REGISTRY, Integration, load_builtin_integrations
from .integrations.base import BLOCKING
from .inventory import InventorySync
from .processor import CommandProcessor
from .results import ResultLedger, publish_result
from .secrets import SecretResolver
from .settings import ConnectorSettings

log = get_logger(__name__)
_tracer = trace.get_tracer("latchkey.connector")


def apply_kafka_config(settings: ConnectorSettings, config: ConnectorConfig) -> ConnectorSettings:
    """connector.yaml's kafka section fills in what the environment did not set (env wins)."""
    update: dict[str, Any] = {}
    if config.kafka.bootstrap and "LATCHKEY_KAFKA_BOOTSTRAP" not in os.environ:
        update["kafka_bootstrap"] = config.kafka.bootstrap
    if config.kafka.topic_prefix is not None and "LATCHKEY_TOPIC_PREFIX" not in os.environ:
        update["topic_prefix"] = config.kafka.topic_prefix
    return settings.model_copy(update=update) if update else settings


class Connector:
    """Wires settings, connector.yaml, integrations and the runtime `Service` together."""

    def __init__(
        self,
        settings: ConnectorSettings,
        config: ConnectorConfig | None = None,
        *,
        secrets: SecretResolver | None = None,
        configure_process: bool = True,
    ) -> None:
        config = config or load_config(settings.config_path)
        settings = apply_kafka_config(settings, config)
        self.settings = settings
        self.config = config
        self.commands_topic = connector_commands(config.connector_id)
        self.service = Service(
            settings,
            topics=[self.commands_topic, RESULTS, INVENTORY],
            schema=None,
            configure_process=configure_process,
        )
        self.secrets = secrets or SecretResolver.default()
        load_builtin_integrations({cfg.type for cfg in config.integrations.values()})
        self.integrations: dict[str, Integration] = {
            integration_id: REGISTRY[cfg.type](cfg, self.secrets, config.templates)
            for integration_id, cfg in config.integrations.items()
        }
        self.executed = ExecutedCommands(settings.replay_window_seconds)
        self.producer: AIOKafkaProducer | None = None  # aiokafka clients need a running loop
        replica = f"{settings.instance_id}:{os.getpid()}"
        self.inventory = InventorySync(
            None,
            kafka_connection(settings),
            settings.topic(INVENTORY.name),
            config,
            self.integrations,
            producer_name=settings.service_name,
        )
        self.processor = CommandProcessor(
            config,
            self.integrations,
            CommandVerifier(config.public_keys, clock_skew_seconds=settings.clock_skew_seconds),
            self.executed,
            inventory=self.inventory,
            replica=replica,
            producer=settings.service_name,
            replay_window_seconds=settings.replay_window_seconds,
            command_timeout_seconds=settings.command_timeout_seconds,
        )
        self.results_topic = settings.topic(RESULTS.name)
        self.ledger = ResultLedger(
            kafka_connection(settings), self.results_topic, config.connector_id, self.executed, replica
        )
        self._started = asyncio.Event()
        self._next_offset: dict[tuple[str, int], int] = {}
        self.service.subscribe(
            self.commands_topic,
            self.on_commands,
            group_id=f"connector-{config.connector_id}",
            group_instance_id=settings.group_instance_id,
            # A command changes a system outside Kafka: never two replicas on one partition at once.
            exclusive=True,
            # The owner of partition 0 runs the inventory schedule (one replica, not all of them).
            on_partitions=self.inventory.command_partitions,
        )
        self.service.health.add_check("config", self._config_ok)
        self.service.health.add_check("templates", self._templates_ok)
        self.service.health.add_check("results_ledger", self._ledger_ok)
        self.service.on_startup(self._start)
        self.service.on_shutdown(self._stop)

    # -- handler ------------------------------------------------------------------------------------
    async def on_commands(self, batch: Batch[ConnectorCommand]) -> None:
        """Apply a batch: commands of one grant (key) in order, different grants concurrently."""
        await self._started.wait()
        if self._out_of_sequence(batch.items):
            # Another replica may have handled these offsets before us: read its results first.
            await self.ledger.catch_up()
        by_grant: OrderedDict[str | None, list[Received[ConnectorCommand]]] = OrderedDict()
        for item in batch.items:
            by_grant.setdefault(item.key, []).append(item)
        limit = asyncio.Semaphore(self.settings.command_concurrency)
        pending: list[tuple[asyncio.Future[Any], Executed]] = []

        async def run(items: list[Received[ConnectorCommand]]) -> None:
            async with limit:
                for item in items:
                    sent = await self._one(item)
                    if sent is not None:
                        # Remembered at once so a duplicate later in this batch is caught too.
                        self.executed.remember(sent[1])
                        pending.append(sent)

        try:
            # A TaskGroup, so one failure stops the other grants before the batch is redelivered.
            async with asyncio.TaskGroup() as group:
                for items in by_grant.values():
                    group.create_task(run(items))
            # Commit (on return) only once every result of the batch is acknowledged by the broker.
            await asyncio.gather(*(future for future, _ in pending))
        except BaseException as exc:
            # The batch will be redelivered: a result that may not have landed must not count as sent.
            for _, executed in pending:
                self.executed.forget(executed.command_id)
            if isinstance(exc, BaseExceptionGroup) and exc.exceptions:
                raise exc.exceptions[0] from None  # the runtime classifies the real error (transient?)
            raise
        for item in batch.items:
            self._next_offset[(item.topic, item.partition)] = item.offset + 1

    async def _one(self, item: Received[ConnectorCommand]) -> tuple[asyncio.Future[Any], Executed] | None:
        command = item.event
        if command is None:
            return None  # a tombstone carries no command
        source = f"{item.topic}:{item.partition}:{item.offset}"
        # One span per command, child of the flow-engine span that issued it (W3C traceparent), so
        # the logs' trace_id and the result's traceparent continue the request's trace.
        with _tracer.start_as_current_span(
            "connector.command", context=item.trace_context, kind=trace.SpanKind.CONSUMER
        ) as span:
            span.set_attribute("latchkey.command_id", command.command_id)
            span.set_attribute("latchkey.grant_id", command.grant_id)
            outcome = await self.processor.process(command, source)
            if outcome.result is None:
                return None
            carrier: dict[str, str] = {}
            inject(carrier)
            assert self.producer is not None  # started before the subscription (self._started)
            sent = await publish_result(
                self.producer,
                self.results_topic,
                outcome.result,
                source=source,
                traceparent=carrier.get("traceparent"),
            )
            verdict = "applied" if outcome.result.type == "connector.command.applied" else "failed"
            return sent, Executed(command.command_id, source, verdict)

    def _out_of_sequence(self, items: list[Received[ConnectorCommand]]) -> bool:
        first: dict[tuple[str, int], int] = {}
        for item in items:
            first.setdefault((item.topic, item.partition), item.offset)
        return any(self._next_offset.get(tp) != offset for tp, offset in first.items())

    # -- lifecycle ----------------------------------------------------------------------------------
    async def _start(self) -> None:
        # No linger: a batch's results are awaited before its offsets are committed, so waiting to fill
        # a record batch only delays them; results sent while one request is in flight batch anyway.
        self.producer = make_producer(self.settings, linger_ms=0)
        await self.producer.start()
        self.inventory.kafka = self.producer
        await self.ledger.start()
        self._started.set()
        self.inventory.start_schedule(self.settings.inventory_interval_seconds)
        log.info(
            "connector ready",
            connector_id=self.config.connector_id,
            integrations=sorted(self.integrations),
            templates=len(self.config.templates),
            trusted_keys=sorted(self.config.public_keys),
            config=str(self.settings.config_path),
            session_timeout_ms=self.settings.session_timeout_ms,
        )

    async def _stop(self) -> None:
        # Before the partitions are given away: a call that outlived its command's timeout ends here,
        # not after another replica ran the grant's next command (integrations.base.BLOCKING).
        left = await BLOCKING.drain(self.settings.command_timeout_seconds)
        if left:
            log.warning("calls to targets still running at shutdown", calls=left)
        await self.inventory.stop()
        await self.ledger.stop()
        for integration in self.integrations.values():
            try:
                await integration.close()
            except Exception as exc:
                log.warning("integration close failed", error_type=type(exc).__name__)
        await self.secrets.close()
        if self.producer is not None:
            await self.producer.stop()

    async def _config_ok(self) -> bool:
        return bool(self.config.integrations)

    async def _templates_ok(self) -> bool:
        # load_config validated every allowed template; readiness re-states that they are all present.
        return all(
            self.config.templates.get(cfg.type, name) is not None
            for cfg in self.config.integrations.values()
            for name in cfg.templates
        )

    async def _ledger_ok(self) -> bool:
        return self.ledger.healthy


def build(settings: ConnectorSettings) -> Service:
    """The runtime Service of a connector configured by `settings` (used by the CLI)."""
    return Connector(settings).service
