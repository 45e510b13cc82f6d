"""Users and groups as identity-sync publishes them: ids, email, active flag, memberships, manager."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .envelope import Event, Identifier


class UserUpserted(Event):
    """A user as the IdP has them now. Carries nothing about the person beyond what access needs."""

    type: Literal["identity.user.upserted"] = "identity.user.upserted"
    user_id: Identifier
    email: str = Field(min_length=3, max_length=320)
    active: bool = True
    manager_id: Identifier | None = None
    source: str = Field(default="unknown", max_length=64, description="Provider that reported the user")


class UserDeactivated(Event):
    """The user is suspended, deprovisioned or deleted in the IdP: all their access must end."""

    type: Literal["identity.user.deactivated"] = "identity.user.deactivated"
    user_id: Identifier
    source: str = Field(default="unknown", max_length=64)


class GroupUpserted(Event):
    """A group and its (flattened) members."""

    type: Literal["identity.group.upserted"] = "identity.group.upserted"
    group_id: Identifier
    name: str = Field(min_length=1, max_length=256)
    member_ids: list[Identifier] = Field(default_factory=list)
    source: str = Field(default="unknown", max_length=64)


class GroupDeleted(Event):
    """The group no longer exists; a tombstone for its key follows on the compacted topic."""

    type: Literal["identity.group.deleted"] = "identity.group.deleted"
    group_id: Identifier
    source: str = Field(default="unknown", max_length=64)


UserEvent = Annotated[UserUpserted | UserDeactivated, Field(discriminator="type")]
GroupEvent = Annotated[GroupUpserted | GroupDeleted, Field(discriminator="type")]
