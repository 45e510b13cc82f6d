"""Signed commands from flow-engine to one connector, and the connector's results.

A command is signed with Ed25519 over `signing_payload()`: the RFC 8785-style canonical JSON of every
field but `signature`. The connector refuses anything whose signature, validity window, integration
or template does not check out locally.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .envelope import Event, Identifier, UtcDatetime


class Principal(BaseModel):
    """Who the access is for, as the connector needs it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    user_id: Identifier
    email: str | None = None


class ConnectorCommand(Event):
    command_id: Identifier
    grant_id: Identifier = Field(description="The request id; commands of one grant share a partition")
    connector_id: Identifier
    integration_id: Identifier
    issued_at: UtcDatetime
    not_after: UtcDatetime = Field(description="The connector refuses the command after this instant")
    attempt: int = Field(default=1, ge=1)
    key_id: str = Field(default="default", max_length=64)
    signature: str = Field(default="", max_length=256, description="Base64 Ed25519 signature")

    def signing_payload(self) -> bytes:
        """The exact bytes that are signed: canonical JSON without the signature field."""
        data = self.model_dump(mode="json", exclude={"signature"})
        return canonical_json(data)


class GrantCommand(ConnectorCommand):
    type: Literal["connector.grant"] = "connector.grant"
    template: str = Field(min_length=1, max_length=128)
    resource: str = Field(min_length=1, max_length=512)
    parameters: dict[str, str] = Field(default_factory=dict)
    principal: Principal
    expires_at: UtcDatetime
    requester_public_key: str | None = Field(default=None, max_length=128)


class RevokeCommand(ConnectorCommand):
    type: Literal["connector.revoke"] = "connector.revoke"
    template: str = Field(min_length=1, max_length=128)
    resource: str = Field(min_length=1, max_length=512)
    parameters: dict[str, str] = Field(default_factory=dict)
    principal: Principal
    rotate_credentials: bool = False


class RotateCommand(ConnectorCommand):
    type: Literal["connector.rotate"] = "connector.rotate"
    template: str = Field(min_length=1, max_length=128)
    resource: str = Field(min_length=1, max_length=512)
    parameters: dict[str, str] = Field(default_factory=dict)
    principal: Principal


class SyncInventoryCommand(ConnectorCommand):
    type: Literal["connector.sync_inventory"] = "connector.sync_inventory"


CommandType = Literal["connector.grant", "connector.revoke", "connector.rotate", "connector.sync_inventory"]

CommandEvent = Annotated[
    GrantCommand | RevokeCommand | RotateCommand | SyncInventoryCommand, Field(discriminator="type")
]


class CommandApplied(Event):
    """The command took effect (or already had: idempotent operations report success)."""

    type: Literal["connector.command.applied"] = "connector.command.applied"
    command_id: Identifier
    grant_id: Identifier
    connector_id: Identifier
    command_type: CommandType
    attempt: int = Field(ge=1)
    replica: str = Field(default="", max_length=128)
    sealed_credentials: str | None = Field(default=None, description="Sealed to the requester's key")
    credential_rotated: bool = False


class CommandFailed(Event):
    """The command was refused or could not be applied; `reason` says why."""

    type: Literal["connector.command.failed"] = "connector.command.failed"
    command_id: Identifier
    grant_id: Identifier
    connector_id: Identifier
    command_type: CommandType | None = None
    attempt: int = Field(default=1, ge=1)
    replica: str = Field(default="", max_length=128)
    code: str = Field(
        max_length=64, description="e.g. bad_signature, expired, unknown_template, target_error"
    )
    reason: str = Field(max_length=2_000)
    retryable: bool = False
    may_have_applied: bool | None = Field(
        default=None,
        description=(
            "Whether the failed command may still have changed the target (a grant's first operation "
            "applied before a later one failed, a timeout while a call ran): flow-engine then revokes "
            "the grant to be sure. False when it was refused before anything was done. None from "
            "connectors older than this field: flow-engine then decides by `code`."
        ),
    )


ResultEvent = Annotated[CommandApplied | CommandFailed, Field(discriminator="type")]


def canonical_json(data: Any) -> bytes:
    """RFC 8785-style canonical JSON: sorted keys, no insignificant whitespace, UTF-8.

    Our signed payloads hold only strings, integers, booleans, nulls, lists and objects (timestamps
    are strings), which is the subset where this encoding and RFC 8785 coincide.
    """
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
