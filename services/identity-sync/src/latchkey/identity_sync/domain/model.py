"""The only facts Latchkey keeps about a person or a group.

Providers parse raw IdP payloads with pydantic models that declare just the fields below and ignore
the rest (`extra="ignore"`), then build these records; names, phones, addresses and custom attributes
never become Python objects past the parser, so they cannot reach the database, the bus or a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict


class IdpPayload(BaseModel):
    """Base of every raw-payload parser: unknown (personal) fields are dropped at parse time."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


@dataclass(frozen=True, slots=True)
class IdentityUser:
    """A user as Latchkey needs them: IdP id, email, active flag, manager's IdP id."""

    id: str
    email: str
    active: bool
    manager_id: str | None = None


@dataclass(frozen=True, slots=True)
class IdentityGroup:
    """A group with its direct members: users, and (for IdPs that nest) member groups."""

    id: str
    name: str
    member_ids: frozenset[str] = field(default_factory=frozenset)
    subgroup_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(slots=True)
class UserPatch:
    """A delta-query change to one user: `None` fields were not reported and keep their stored value."""

    id: str
    removed: bool = False
    email: str | None = None
    active: bool | None = None
    manager_id: str | None = None
    manager_reported: bool = False

    def then(self, later: UserPatch) -> UserPatch:
        """This change followed by `later`, of the same user in the same delta round (Graph may list
        a user more than once, each copy with some of its properties): what `later` reports wins, and
        what it leaves out keeps this one's value, so a deactivation reported first is not lost."""
        if later.removed:
            return later
        return UserPatch(
            id=later.id,
            removed=False,
            email=later.email if later.email is not None else self.email,
            active=later.active if later.active is not None else self.active,
            manager_id=later.manager_id if later.manager_reported else self.manager_id,
            manager_reported=later.manager_reported or self.manager_reported,
        )


@dataclass(slots=True)
class GroupPatch:
    """A delta-query change to one group's name and direct members: either added/removed ids (Graph),
    or the complete direct user members when the IdP reports a changed group whole (`members`, Okta)."""

    id: str
    removed: bool = False
    name: str | None = None
    members: frozenset[str] | None = None
    added_members: set[str] = field(default_factory=set)
    removed_members: set[str] = field(default_factory=set)
    added_subgroups: set[str] = field(default_factory=set)
    removed_subgroups: set[str] = field(default_factory=set)


# Limits of the published contract (latchkey.contracts.identity): a record outside them is skipped and
# counted rather than failing the whole run, and events can then be built without re-validation.
MAX_ID, MAX_EMAIL, MAX_NAME = 256, 320, 256


def admissible_user(user: IdentityUser) -> bool:
    return (
        0 < len(user.id) <= MAX_ID
        and 3 <= len(user.email) <= MAX_EMAIL
        and (user.manager_id is None or 0 < len(user.manager_id) <= MAX_ID)
    )


def admissible_group(group: IdentityGroup) -> bool:
    return (
        0 < len(group.id) <= MAX_ID
        and 0 < len(group.name) <= MAX_NAME
        and all(0 < len(member) <= MAX_ID for member in group.member_ids)
    )


def admissible_user_patch(patch: UserPatch) -> bool:
    return (
        0 < len(patch.id) <= MAX_ID
        and (patch.email is None or 3 <= len(patch.email) <= MAX_EMAIL)
        and (patch.manager_id is None or 0 < len(patch.manager_id) <= MAX_ID)
    )


def admissible_group_patch(patch: GroupPatch) -> bool:
    return (
        0 < len(patch.id) <= MAX_ID
        and (patch.name is None or 0 < len(patch.name) <= MAX_NAME)
        and all(0 < len(member) <= MAX_ID for member in patch.added_members)
        and all(0 < len(member) <= MAX_ID for member in patch.members or ())
    )
