"""Inventory sync: ask each integration what exists and publish the difference to inventory.v1.

The connector keeps no state, so the topic is the memory: before publishing, it reads inventory.v1
(compacted) to learn what it published for the integration last time, then publishes resources that
are new or changed, a ResourceRemoved followed by a tombstone for those that disappeared, and one
InventorySynced. Several replicas syncing at once publish the same facts twice at worst.

The schedule runs on one replica: the one that owns partition 0 of the connector's command topic
(the consumer group already elects exactly one owner per partition, and moves it when a replica dies
or is cut off). A replica that gains that partition syncs at once unless it synced within the
interval; a `SyncInventoryCommand` is obeyed by whichever replica receives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from latchkey.contracts import (
    InventorySynced,
    ResourceDiscovered,
    ResourceRemoved,
    inventory_key,
)
from latchkey.runtime.observability import get_logger

from .config import ConnectorConfig
from .domain.inventory import diff_inventory, fingerprint
from .integrations.base import Integration, InventoryItem
from .processor import InventoryRunner
from .results import partitions_of

log = get_logger(__name__)

_JSON = [("content-type", b"application/json")]


class InventorySync(InventoryRunner):
    def __init__(
        self,
        producer: AIOKafkaProducer | None,
        connection: dict[str, Any],
        topic: str,
        config: ConnectorConfig,
        integrations: dict[str, Integration],
        producer_name: str = "connector",
    ) -> None:
        self.kafka: AIOKafkaProducer = producer  # set at startup
        self.connection = connection  # aiokafka options (`kafka_connection`)
        self.topic = topic
        self.config = config
        self.integrations = integrations
        self.producer = producer_name
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._leading = asyncio.Event()  # this replica owns partition 0 of the command topic
        self._gained = asyncio.Event()  # ... and did not a moment ago

    def command_partitions(self, owned: frozenset[int]) -> None:
        """The command partitions this replica owns now (from the consumer's rebalance listener)."""
        if 0 in owned:
            if not self._leading.is_set():
                log.info("inventory schedule runs here (command partition 0 assigned)")
                self._gained.set()
            self._leading.set()
        else:
            self._leading.clear()

    async def sync(self, integration_id: str) -> int:
        """One full pass over `integration_id`; returns how many resources it has now."""
        lock = self._locks.setdefault(integration_id, asyncio.Lock())
        async with lock:
            integration = self.integrations[integration_id]
            found = await integration.sync_inventory()
            published = await self._published(integration_id)
            diff = diff_inventory(published, found)
            kind = integration.type
            for item in diff.changed:
                await self._publish(
                    integration_id, item.resource_id, self._discovered(integration_id, kind, item)
                )
            for resource_id in diff.removed:
                removed = ResourceRemoved(
                    producer=self.producer,
                    connector_id=self.config.connector_id,
                    integration_id=integration_id,
                    resource_id=resource_id,
                )
                await self._publish(integration_id, resource_id, removed)
                await self._publish(integration_id, resource_id, None)  # tombstone
            synced = InventorySynced(
                producer=self.producer,
                connector_id=self.config.connector_id,
                integration_id=integration_id,
                integration_type=kind,
                resource_count=len(found),
            )
            await self.kafka.send_and_wait(
                self.topic,
                synced.model_dump_json().encode(),
                key=f"{integration_id}/_sync".encode(),
                headers=_JSON,
            )
            log.info(
                "inventory synced",
                integration_id=integration_id,
                resources=len(found),
                changed=len(diff.changed),
                removed=len(diff.removed),
            )
            return len(found)

    async def sync_all(self) -> None:
        for integration_id in self.integrations:
            try:
                await self.sync(integration_id)
            except Exception as exc:
                # One broken target must not stop the others' inventory; the next pass retries.
                log.warning("inventory sync failed", integration_id=integration_id, error=str(exc)[:300])

    def start_schedule(self, interval_seconds: float) -> None:
        """While this replica leads (owns command partition 0): sync every integration, then again
        every `interval_seconds` (jittered). 0: once, when it first leads; then only on command."""

        async def loop() -> None:
            last: float | None = None
            due_in = 0.0
            while True:
                await self._leading.wait()
                self._gained.clear()
                if last is None or time.monotonic() - last >= due_in:
                    await self.sync_all()
                    if interval_seconds <= 0:
                        return
                    last, due_in = time.monotonic(), interval_seconds * random.uniform(0.8, 1.2)
                # Sleep until the next pass is due, or until leadership comes back after a rebalance
                # took it away (then the check above decides whether a pass is due).
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._gained.wait(), max(0.0, due_in - (time.monotonic() - last)))

        self._task = asyncio.create_task(loop(), name="inventory-schedule")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # stopping anyway
                await self._task

    def _discovered(self, integration_id: str, kind: str, item: InventoryItem) -> ResourceDiscovered:
        return ResourceDiscovered(
            producer=self.producer,
            connector_id=self.config.connector_id,
            integration_id=integration_id,
            integration_type=kind,
            resource_id=item.resource_id,
            resource_type=item.resource_type,
            name=item.name,
            permissions=item.permissions,
            owner_ids=item.owner_ids,
            tags=item.tags,
        )

    async def _publish(self, integration_id: str, resource_id: str, event: object | None) -> None:
        value = event.model_dump_json().encode() if event is not None else None  # type: ignore[attr-defined]
        key = inventory_key(integration_id, resource_id).encode()
        await self.kafka.send_and_wait(self.topic, value, key=key, headers=_JSON if value is not None else [])

    async def _published(self, integration_id: str) -> dict[str, str]:
        """resource_id → fingerprint of what inventory.v1 currently holds for this integration."""
        consumer = AIOKafkaConsumer(**self.connection, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = await partitions_of(consumer, self.topic)
            tps = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            prefix = f"{integration_id}/"
            state: dict[str, str] = {}
            deadline = time.monotonic() + 60
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading {self.topic} took too long")
                batches = await consumer.getmany(timeout_ms=200, max_records=5000)
                for records in batches.values():
                    for record in records:
                        key = record.key.decode() if record.key else ""
                        if not key.startswith(prefix) or key.endswith("/_sync"):
                            continue
                        resource_id = key[len(prefix) :]
                        if record.value is None:
                            state.pop(resource_id, None)
                            continue
                        data = json.loads(record.value)
                        if data.get("connector_id") != self.config.connector_id:
                            continue
                        if data.get("type") == "inventory.resource.discovered":
                            state[resource_id] = fingerprint(
                                InventoryItem(
                                    resource_id=data["resource_id"],
                                    resource_type=data["resource_type"],
                                    name=data["name"],
                                    permissions=data.get("permissions", []),
                                    owner_ids=data.get("owner_ids", []),
                                    tags=data.get("tags", {}),
                                )
                            )
                        elif data.get("type") == "inventory.resource.removed":
                            state.pop(resource_id, None)
            return state
        finally:
            await consumer.stop()
