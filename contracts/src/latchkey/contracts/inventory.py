"""What a connector found in the environment: resources, the permissions (templates) that apply to
them, and their owners. Names and metadata only, never data. Compacted, keyed by
`<integration_id>/<resource_id>`; a removed resource is followed by a tombstone."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .envelope import Event, Identifier


class ResourceDiscovered(Event):
    type: Literal["inventory.resource.discovered"] = "inventory.resource.discovered"
    connector_id: Identifier
    integration_id: Identifier
    integration_type: str = Field(max_length=64)
    resource_id: str = Field(min_length=1, max_length=512)
    resource_type: str = Field(max_length=64, description="e.g. database, schema, table, role, namespace")
    name: str = Field(max_length=512)
    permissions: list[str] = Field(default_factory=list, description="Template names that apply")
    owner_ids: list[Identifier] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)


class ResourceRemoved(Event):
    type: Literal["inventory.resource.removed"] = "inventory.resource.removed"
    connector_id: Identifier
    integration_id: Identifier
    resource_id: str = Field(min_length=1, max_length=512)


class InventorySynced(Event):
    """A full inventory pass of one integration finished."""

    type: Literal["inventory.sync.finished"] = "inventory.sync.finished"
    connector_id: Identifier
    integration_id: Identifier
    integration_type: str = Field(max_length=64)
    resource_count: int = Field(ge=0)


InventoryEvent = Annotated[
    ResourceDiscovered | ResourceRemoved | InventorySynced, Field(discriminator="type")
]


def inventory_key(integration_id: str, resource_id: str) -> str:
    return f"{integration_id}/{resource_id}"
