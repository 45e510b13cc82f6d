"""The people and resources a decision looks at, as the read models know them."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Person:
    """A user from identity-sync with their groups (ids and names both, since flows may name either)."""

    user_id: str
    email: str | None = None
    active: bool = True
    manager_id: str | None = None
    group_ids: frozenset[str] = frozenset()
    group_names: tuple[str, ...] = ()

    def is_named(self, reference: str) -> bool:
        return reference == self.user_id or (
            self.email is not None and reference.lower() == self.email.lower()
        )

    def in_group(self, reference: str) -> bool:
        return reference in self.group_ids or reference in self.group_names

    def describe(self) -> str:
        if self.group_names:
            label = "group" if len(self.group_names) == 1 else "groups"
            return f"{label} {', '.join(sorted(self.group_names))}"
        return f"user {self.email or self.user_id}"


@dataclass(frozen=True)
class Resource:
    """A resource from a connector's inventory."""

    integration_id: str
    resource_id: str
    name: str
    resource_type: str
    connector_id: str
    permissions: tuple[str, ...] = ()
    owner_ids: frozenset[str] = frozenset()
    tags: dict[str, str] = field(default_factory=dict)
