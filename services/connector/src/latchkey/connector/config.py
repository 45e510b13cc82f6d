"""`connector.yaml`: who this connector is, whom it trusts, and the integrations it serves.

    apiVersion: latchkey/v1
    kind: Connector
    connector_id: acme-prod
    control_plane_keys: {default: "<base64 Ed25519 public key>"}   # or "file:<path>" (relative to this file)
    templates_dirs: [templates]          # relative to this file
    kafka: {bootstrap: "kafka:9092"}     # optional; LATCHKEY_KAFKA_BOOTSTRAP wins
    integrations:
      - id: appdb
        type: postgresql
        connection: {host: db.internal, port: 5432, dbname: appdb, user: latchkey}
        secret: aws-sm://latchkey/appdb#password
        templates: [readonly, readwrite]

Loading checks everything that can be checked without the network: keys parse, every integration
type is known and reads every `connection` key given (and has the ones it needs), every allowed
template exists for that type and its operations have the right shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from latchkey.runtime.signing import load_public_key

from .secrets import DEFAULT_PROVIDERS
from .templates import TemplateError, TemplateSet, load_templates

_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_SECRET_REF = re.compile(r"[a-z0-9-]+://\S+")


class ConfigError(ValueError):
    """connector.yaml (or a template it allows) is wrong; the message says where and how to fix it."""


class IntegrationConfig(BaseModel):
    """One integration this connector serves."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    type: str
    connection: dict[str, Any] = Field(default_factory=dict, description="Non-secret connection parameters")
    secret: str | None = Field(default=None, description="Secret reference, e.g. aws-sm://name#password")
    templates: list[str] = Field(default_factory=list, description="Templates this integration may run")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("an integration id is lowercase letters, digits, '-' or '_' (max 63)")
        return value

    @field_validator("secret")
    @classmethod
    def _secret_is_a_reference(cls, value: str | None) -> str | None:
        # A literal password pasted here would be a secret at rest in a config map: refuse it. So is
        # a connection URL with its password (postgresql://user:pw@host): only a secret store's
        # scheme is a reference. Neither message repeats the value.
        if value is not None and not _SECRET_REF.fullmatch(value):
            raise ValueError(
                "`secret` must be a reference such as aws-sm://name or env://VAR, never the value"
            )
        if value is not None and value.partition("://")[0].lower() not in DEFAULT_PROVIDERS:
            known = ", ".join(f"{scheme}://" for scheme in DEFAULT_PROVIDERS)
            raise ValueError(f"`secret` must name a secret store ({known}), never hold a value or a URL")
        return value


class KafkaConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bootstrap: str | None = None
    topic_prefix: str | None = None


class ConnectorFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: Literal["latchkey/v1"] = Field(alias="apiVersion")
    kind: Literal["Connector"]
    connector_id: str
    control_plane_keys: dict[str, str] = Field(
        min_length=1, description='key id → Ed25519 public key, or "file:<path>" of a file holding one'
    )
    templates_dirs: list[str] = Field(default_factory=lambda: ["templates"])
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    integrations: list[IntegrationConfig] = Field(min_length=1)

    @field_validator("connector_id")
    @classmethod
    def _connector_id(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError(
                "connector_id is lowercase letters, digits, '-' or '_' (max 63): it names a topic"
            )
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> ConnectorFile:
        ids = [i.id for i in self.integrations]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"integration ids must be unique; repeated: {duplicates}")
        return self


KEY_FILE_PREFIX = "file:"
"""A control plane key given as `file:<path>` is read from that file (relative to connector.yaml)."""


@dataclass(frozen=True)
class ConnectorConfig:
    """The loaded, checked configuration."""

    connector_id: str
    public_keys: dict[str, Ed25519PublicKey]
    integrations: dict[str, IntegrationConfig]
    templates: TemplateSet
    kafka: KafkaConfig
    source: str

    def allowed_template(self, integration_id: str, name: str) -> bool:
        integration = self.integrations.get(integration_id)
        return integration is not None and name in integration.templates


def load_config(path: Path) -> ConnectorConfig:
    """Read and check connector.yaml and the templates it allows; ConfigError says what is wrong."""
    from .integrations import BUILTIN, REGISTRY, load_builtin_integrations

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read connector config {path}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with apiVersion, kind: Connector, connector_id, ...")
    try:
        parsed = ConnectorFile.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:8]
        )
        raise ConfigError(f"{path}: {problems}") from None

    keys: dict[str, Ed25519PublicKey] = {}
    for key_id, text_key in parsed.control_plane_keys.items():
        if text_key.startswith(KEY_FILE_PREFIX):  # the key in a file (e.g. written by `keygen`)
            key_file = path.parent / text_key.removeprefix(KEY_FILE_PREFIX)
            try:
                text_key = key_file.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"{path}: control_plane_keys.{key_id}: cannot read {key_file}: {exc.strerror}"
                ) from None
        try:
            keys[key_id] = load_public_key(text_key)
        except ValueError as exc:
            raise ConfigError(f"{path}: control_plane_keys.{key_id}: {exc}") from None

    folders = [(path.parent / folder).resolve() for folder in parsed.templates_dirs]
    try:
        templates = load_templates(folders)
    except TemplateError as exc:
        raise ConfigError(str(exc)) from None

    load_builtin_integrations({i.type for i in parsed.integrations})
    for integration in parsed.integrations:
        kind = REGISTRY.get(integration.type)
        if kind is None:
            raise ConfigError(
                f"{path}: integration {integration.id!r} has unknown type {integration.type!r}; "
                f"known: {sorted(set(BUILTIN) | set(REGISTRY))}"
            )
        try:
            kind.check_connection(integration)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for name in integration.templates:
            template = templates.get(integration.type, name)
            if template is None:
                raise ConfigError(
                    f"{path}: integration {integration.id!r} allows template {name!r}, but no "
                    f"{integration.type}/{name}.yaml exists in {[str(f) for f in folders]}"
                )
            try:
                kind.validate_operations(template)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{template.source}: {exc}") from None
    return ConnectorConfig(
        connector_id=parsed.connector_id,
        public_keys=keys,
        integrations={i.id: i for i in parsed.integrations},
        templates=templates,
        kafka=parsed.kafka,
        source=str(path),
    )
