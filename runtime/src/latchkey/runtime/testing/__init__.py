"""Test and demo support: real Kafka + PostgreSQL (local scripts, testcontainers or external).

Used by the root conftest.py, the demo and the benchmarks; not imported by services at run time.
"""

from latchkey.runtime.testing.infra import (
    Infra,
    InfraError,
    InfraHandle,
    KafkaCluster,
    create_database,
    default_mode,
    delete_prefixed_topics,
    drop_database,
    issued_prefixes,
    leave_broker_as_found,
    libpq_url,
    reap_stale_state_dirs,
    safe_database_name,
    sqlalchemy_url,
    start_infra,
    start_local,
    unique_prefix,
)
from latchkey.runtime.testing.ports import free_port

__all__ = [
    "Infra",
    "InfraError",
    "InfraHandle",
    "KafkaCluster",
    "create_database",
    "default_mode",
    "delete_prefixed_topics",
    "drop_database",
    "free_port",
    "issued_prefixes",
    "leave_broker_as_found",
    "libpq_url",
    "reap_stale_state_dirs",
    "safe_database_name",
    "sqlalchemy_url",
    "start_infra",
    "start_local",
    "unique_prefix",
]
