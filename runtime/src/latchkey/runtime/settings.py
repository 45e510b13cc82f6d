"""The settings base every service extends: environment variables with the `LATCHKEY_` prefix."""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """Common settings. A service subclasses this and adds its own fields."""

    model_config = SettingsConfigDict(env_prefix="LATCHKEY_", env_file=None, extra="ignore")

    service_name: str = Field(default="latchkey", description="Name in logs, traces and the producer field")
    instance_id: str = Field(default_factory=socket.gethostname, description="This replica's name")
    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Comma-separated host:port list")
    topic_prefix: str = Field(default="", description="Prefix of every topic name (environments, tests)")
    topic_replication: int = Field(default=1, ge=1, description="Replication factor of created topics")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        description="How the Kafka clients connect: SASL_SSL (a user and TLS) on any shared cluster, so "
        "that ACLs decide who may write each topic (docs/operations.md, 'Securing the bus')",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="SCRAM-SHA-512", description="SASL mechanism (SASL_* protocols)"
    )
    kafka_sasl_username: str | None = Field(default=None, description="This service's Kafka user (SASL_*)")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="Its password (SASL_*)")
    kafka_ssl_cafile: str | None = Field(
        default=None, description="PEM of the CAs of the brokers' certificates (SSL); else the system's"
    )
    kafka_ssl_certfile: str | None = Field(default=None, description="Client certificate (PEM), mutual TLS")
    kafka_ssl_keyfile: str | None = Field(default=None, description="Its private key (PEM)")
    kafka_startup_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a starting service waits for Kafka to answer (saying so every few seconds) "
        "before it gives up with one line and exit status 2",
    )
    database_url: SecretStr = Field(
        default=SecretStr("postgresql+psycopg://latchkey:latchkey@127.0.0.1:5432/latchkey"),
        description="SQLAlchemy URL (postgresql+psycopg://...)",
    )
    health_host: str = "127.0.0.1"
    health_port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_json: bool = True
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        default="none",
        description="Where spans go: none (not recorded; the W3C trace context still crosses every hop "
        "and log lines still carry the trace id), console (stderr) or otlp (OTEL_EXPORTER_OTLP_* settings)",
    )
    consumer_max_records: int = Field(default=500, ge=1)
    consumer_batch_timeout_ms: int = Field(
        default=200,
        ge=0,
        description="Longest wait of one poll while no record is waiting; a record that arrives ends it",
    )
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=3_000, ge=100)
    handler_max_attempts: int = Field(
        default=8, ge=1, description="Failures of one message (not infrastructure) before it is dead-lettered"
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="uvloop",
        description="uvloop (libuv; falls back to asyncio where it is not installed) or asyncio's own loop",
    )
    gc_young_threshold: int = Field(
        default=50_000,
        ge=700,
        description="Allocations between two collections of the youngest garbage-collector generation",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _postgresql(cls, value: SecretStr) -> SecretStr:
        """PostgreSQL through psycopg 3; the usual postgresql:// and postgres:// URLs mean the same.
        The message names the scheme only: the URL holds the password."""
        scheme, sep, rest = value.get_secret_value().partition("://")
        if not sep:
            raise ValueError("not a URL; expected postgresql+psycopg://user:password@host:port/database")
        if scheme in ("postgresql", "postgres"):
            return SecretStr(f"postgresql+psycopg://{rest}")
        if scheme != "postgresql+psycopg":
            raise ValueError(
                f"scheme {scheme!r}: Latchkey stores its state in PostgreSQL (postgresql+psycopg://...)"
            )
        return value

    @model_validator(mode="after")
    def _kafka_credentials(self) -> ServiceSettings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"LATCHKEY_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} needs "
                "LATCHKEY_KAFKA_SASL_USERNAME and LATCHKEY_KAFKA_SASL_PASSWORD"
            )
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            raise ValueError("LATCHKEY_KAFKA_SSL_CERTFILE and LATCHKEY_KAFKA_SSL_KEYFILE go together")
        return self

    def topic(self, name: str) -> str:
        """The deployed name of the topic `name`."""
        return f"{self.topic_prefix}{name}"

    def group(self, name: str) -> str:
        """The deployed name of consumer group `name` (prefixed like topics, so environments never share)."""
        return f"{self.topic_prefix}{name}"

    @property
    def sync_database_url(self) -> str:
        return self.database_url.get_secret_value()
