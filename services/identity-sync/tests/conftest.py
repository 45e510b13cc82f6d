"""Fixtures for identity-sync tests: a migrated schema, topics, the outbox relay and topic readers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from latchkey.identity_sync.app import MIGRATIONS, build_service
from latchkey.identity_sync.settings import IdentitySyncSettings
from latchkey.identity_sync.store import SCHEMA
from latchkey.identity_sync.testing.harness import Harness, TopicReader
from latchkey.runtime.kafka import ensure_topics
from latchkey.runtime.migrations import upgrade_async


@pytest.fixture
async def harness(kafka_bootstrap: str, database_url: str, topic_prefix: str) -> AsyncIterator[Harness]:
    settings = IdentitySyncSettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=database_url,
        topic_prefix=topic_prefix,
        instance_id="test",
    )
    service = build_service(settings, configure_process=False)
    await upgrade_async(settings.sync_database_url, MIGRATIONS, SCHEMA)
    await ensure_topics(settings, service.topics)
    assert service.relay is not None
    await service.relay.start()
    reader = TopicReader(kafka_bootstrap, settings)
    await reader.start()
    try:
        yield Harness(settings, service, reader)
    finally:
        await reader.stop()
        await service.relay.stop()
        await service.engine.dispose()
