"""Workspace-wide pytest fixtures: real Kafka and PostgreSQL, started once per session.

`LATCHKEY_TEST_INFRA=local|testcontainers|external` picks how (see latchkey.runtime.testing.infra).
Nothing starts unless a test asks for one of these fixtures.
"""

from __future__ import annotations

import atexit
import signal
from collections.abc import Iterator

import pytest

from latchkey.runtime.testing import (
    Infra,
    InfraHandle,
    KafkaCluster,
    create_database,
    default_mode,
    drop_database,
    safe_database_name,
    sqlalchemy_url,
    start_infra,
    start_local,
    unique_prefix,
)


def _teardown_on_sigterm() -> None:
    """`timeout`, CI runners and process managers stop pytest with SIGTERM, whose default action
    skips fixture finalizers and atexit: the servers would outlive the run. Turn it into the
    KeyboardInterrupt pytest already handles (teardown runs, then pytest exits)."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:

        def _raise(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")

        signal.signal(signal.SIGTERM, _raise)


@pytest.fixture(scope="session")
def infra_handle() -> Iterator[InfraHandle]:
    """The running infrastructure and its teardown (also on interpreter exit, in case pytest dies)."""
    _teardown_on_sigterm()
    handle = start_infra()
    atexit.register(handle.stop)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="session")
def infra(infra_handle: InfraHandle) -> Infra:
    return infra_handle.infra


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


@pytest.fixture
def database_url(infra: Infra, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty database for this test (SQLAlchemy async URL), dropped afterwards."""
    name = safe_database_name(request.node.name)
    url = create_database(infra.admin_database_url, name)
    try:
        yield sqlalchemy_url(url)
    finally:
        drop_database(infra.admin_database_url, name)


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic prefix (ends with '.') so tests sharing the broker never see each other's data."""
    return unique_prefix()


@pytest.fixture(scope="session")
def _kafka_ha_session() -> Iterator[KafkaCluster]:
    if default_mode() != "local":
        pytest.skip("3-node Kafka (kill/restart nodes) needs LATCHKEY_TEST_INFRA=local")
    _teardown_on_sigterm()
    handle = start_local(nodes=3, with_postgres=False)
    atexit.register(handle.stop)
    try:
        assert handle.kafka is not None
        yield handle.kafka
    finally:
        handle.stop()


@pytest.fixture
def kafka_ha(_kafka_ha_session: KafkaCluster) -> Iterator[KafkaCluster]:
    """A 3-node cluster (RF 3, min ISR 2) for HA tests; nodes a test killed are restarted after it."""
    yield _kafka_ha_session
    for node in _kafka_ha_session.node_ids:
        if not _kafka_ha_session.is_running(node):
            _kafka_ha_session.start_node(node)
