"""Connector settings: LATCHKEY_* environment variables; what it serves comes from connector.yaml."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from latchkey.runtime import ServiceSettings


class ConnectorSettings(ServiceSettings):
    service_name: str = "connector"
    health_port: int = Field(default=8083, ge=0, le=65535)
    config_path: Path = Field(
        default=Path("connector.yaml"), description="connector.yaml (LATCHKEY_CONFIG_PATH)"
    )
    # Failover speed vs. false alarms: a replica that dies holds its partitions until the group
    # coordinator misses its heartbeats for `session_timeout_ms`. 6 s / 1 s means a command waits at
    # most ~6-9 s after a kill -9; lower values make a GC pause or a slow network look like a death
    # and cause needless rebalances (each one pauses the whole group for a moment).
    session_timeout_ms: int = Field(default=6_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    group_instance_id: str | None = Field(
        default=None,
        description="Static membership id (e.g. the pod name): a restart within the session timeout "
        "keeps the partitions without a rebalance",
    )
    consumer_max_records: int = Field(default=100, ge=1)
    replay_window_seconds: float = Field(
        default=24 * 3600,
        gt=0,
        description="How long executed command ids are remembered; longer validity windows are refused",
    )
    clock_skew_seconds: float = Field(default=30.0, ge=0)
    command_timeout_seconds: float = Field(default=60.0, gt=0, description="Deadline of one integration call")
    command_concurrency: int = Field(default=16, ge=1, description="Grants (keys) worked on at once")
    inventory_interval_seconds: float = Field(
        default=900.0,
        ge=0,
        description="Scheduled inventory sync, run by the replica that owns command partition 0;"
        " 0: once when it starts leading, then only on command",
    )
