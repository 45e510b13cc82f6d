"""Access Flows as admin tools publish them to the compacted `access.flows.v1` topic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .envelope import Event


class AccessFlowUpserted(Event):
    """Create or replace the flow `name`. `spec` is the AccessFlow document (`apiVersion: latchkey/v1`);
    flow-engine validates it against its schema and dead-letters a spec it cannot accept."""

    type: Literal["access.flow.upserted"] = "access.flow.upserted"
    name: str = Field(min_length=1, max_length=128, pattern=r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
    spec: dict[str, Any]
    digest: str = Field(max_length=128, description="sha256 of the canonical spec, to spot no-op applies")
    applied_by: str | None = Field(default=None, max_length=320)


class AccessFlowDeleted(Event):
    """The flow no longer applies to new requests; a tombstone for its key follows."""

    type: Literal["access.flow.deleted"] = "access.flow.deleted"
    name: str = Field(min_length=1, max_length=128)
    applied_by: str | None = Field(default=None, max_length=320)


FlowEvent = Annotated[AccessFlowUpserted | AccessFlowDeleted, Field(discriminator="type")]
