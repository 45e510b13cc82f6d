"""A deterministic directory: N users, M groups, managers, nesting, and personal data that a
correct sync must drop (names, phones, addresses, custom attributes)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

# When the generated directory was last changed (2024-05-01T09:00:00Z): changes made by a test or the
# benchmark carry the real time, so IdP "changed since" queries find exactly them.
CREATED_AT = 1714554000.0


@dataclass(slots=True)
class FakeUser:
    index: int
    id: str
    email: str
    active: bool = True
    manager: int | None = None
    deleted: bool = False
    deprovisioned: bool = False  # Okta's "deactivated": kept (and in its groups) with status DEPROVISIONED
    version: int = 0
    updated_at: float = CREATED_AT


@dataclass(slots=True)
class FakeGroup:
    index: int
    id: str
    name: str
    members: set[int] = field(default_factory=set)
    subgroups: set[int] = field(default_factory=set)
    deleted: bool = False
    version: int = 0
    updated_at: float = CREATED_AT  # profile (name)
    members_updated_at: float = CREATED_AT  # membership
    # (version, kind "user"/"group", index, added?) for delta queries
    log: list[tuple[int, str, int, bool]] = field(default_factory=list)


def user_id(index: int) -> str:
    return f"{index:08x}-1d5c-4000-8000-00000000a11e"


def group_id(index: int) -> str:
    return f"{index:08x}-6a0b-4000-8000-0000000069a0"


class Population:
    """Users u0..u(N-1): manager of u(i) is u(i//10); every 97th user is suspended; each user is in
    three groups. Every 50th group nests the next one (for IdPs that nest)."""

    def __init__(self, users: int, groups: int, *, nested: bool = True, domain: str = "example.test") -> None:
        self.domain = domain
        self.version = 1
        self.users: list[FakeUser] = [
            FakeUser(
                i,
                user_id(i),
                f"user{i}@{domain}",
                active=(i % 97 != 96),
                manager=(i // 10 if i >= 10 else None),
                version=1,
            )
            for i in range(users)
        ]
        self.groups: list[FakeGroup] = [
            FakeGroup(g, group_id(g), f"group-{g:05d}", version=1) for g in range(groups)
        ]
        if groups:
            for i in range(users):
                for g in {i % groups, (i * 7 + 3) % groups, (i * 13 + 5) % groups}:
                    self.groups[g].members.add(i)
            if nested:
                for g in range(0, groups - 1, 50):
                    self.groups[g].subgroups.add(g + 1)
        self.by_user_id = {u.id: u for u in self.users}
        self.by_group_id = {g.id: g for g in self.groups}

    # -- personal data a sync must never keep ----------------------------------------------------
    @staticmethod
    def pii(user: FakeUser) -> dict[str, str]:
        i = user.index
        return {
            "given_name": f"Givenname{i:06d}q",
            "family_name": f"Surname{i:06d}z",
            "phone": f"+1-555-{i:07d}",
            "street": f"{i} Privacyweg",
            "city": f"Piiville{i % 1000:03d}x",
            "postal_code": f"PC{i:06d}",
            "employee_number": f"EMPNO-{i:06d}",
            "cost_center": f"CC-SECRET-{i % 500:04d}",
            "birthday": f"19{i % 100:02d}-0{1 + i % 9}-1{i % 10}",
            "title": f"Jobtitle{i % 300:03d}k",
        }

    def pii_values(self) -> list[str]:
        """Every personal value the fakes serve (to search for in tables, topics and logs)."""
        return [value for user in self.users for value in self.pii(user).values()]

    # -- expected result of a correct sync --------------------------------------------------------
    def live_users(self) -> list[FakeUser]:
        return [u for u in self.users if not u.deleted]

    def live_groups(self) -> list[FakeGroup]:
        return [g for g in self.groups if not g.deleted]

    def flattened_members(self, group: FakeGroup, *, nested: bool = True) -> set[str]:
        members = set(group.members)
        if nested:
            seen = {group.index}
            pending = list(group.subgroups)
            while pending:
                child = self.groups[pending.pop()]
                if child.index in seen or child.deleted:
                    continue
                seen.add(child.index)
                members |= child.members
                pending.extend(child.subgroups)
        return {self.users[i].id for i in members if not self.users[i].deleted}

    # -- changes (each bumps the version so delta queries report it, and the change time) ----------
    def now(self) -> float:
        """Wall-clock time of a change, in whole milliseconds like Okta's timestamps."""
        return round(time.time(), 3)

    def _touch_user(self, user: FakeUser) -> None:
        self.version += 1
        user.version = self.version
        user.updated_at = self.now()

    def _member_change(self, group: FakeGroup, kind: str, index: int, added: bool) -> None:
        self.version += 1
        group.version = self.version
        group.members_updated_at = self.now()
        group.log.append((self.version, kind, index, added))

    def add_user(self, *, groups: tuple[int, ...] = ()) -> FakeUser:
        i = len(self.users)
        user = FakeUser(i, user_id(i), f"user{i}@{self.domain}", manager=0 if i else None)
        self.users.append(user)
        self.by_user_id[user.id] = user
        self._touch_user(user)
        for g in groups:
            self.add_member(g, i)
        return user

    def change_email(self, i: int, email: str | None = None) -> None:
        user = self.users[i]
        user.email = email or f"renamed{i}.{self.version}@{self.domain}"
        self._touch_user(user)

    def deactivate(self, i: int) -> None:
        """Suspend / disable the account (Okta: SUSPENDED)."""
        self.users[i].active = False
        self._touch_user(self.users[i])

    def deprovision(self, i: int) -> None:
        """Okta's "deactivate" (status DEPROVISIONED, memberships kept); elsewhere a disabled account."""
        self.users[i].active = False
        self.users[i].deprovisioned = True
        self._touch_user(self.users[i])

    def rename_group(self, g: int, name: str) -> None:
        group = self.groups[g]
        group.name = name
        self.version += 1
        group.version = self.version
        group.updated_at = self.now()

    def delete_user(self, i: int) -> None:
        user = self.users[i]
        user.deleted = True
        self._touch_user(user)
        for group in self.groups:
            if i in group.members:
                group.members.discard(i)
                self._member_change(group, "user", i, False)

    def add_member(self, g: int, i: int) -> None:
        self.groups[g].members.add(i)
        self._member_change(self.groups[g], "user", i, True)

    def remove_member(self, g: int, i: int) -> None:
        self.groups[g].members.discard(i)
        self._member_change(self.groups[g], "user", i, False)

    def delete_group(self, g: int) -> None:
        group = self.groups[g]
        group.deleted = True
        self.version += 1
        group.version = self.version
        for parent in self.groups:
            if g in parent.subgroups:
                parent.subgroups.discard(g)
                self._member_change(parent, "group", g, False)

    def random_changes(self, count: int, seed: int = 1) -> dict[str, Any]:
        """`count` changes spread over the kinds a sync must notice; returns what changed."""
        rng = random.Random(seed)
        done: dict[str, list[str]] = {"email": [], "deactivate": [], "remove_member": [], "add_member": []}
        live = [u.index for u in self.users if not u.deleted and u.active]
        for n in range(count):
            kind = ("email", "deactivate", "remove_member", "add_member")[n % 4]
            i = rng.choice(live)
            if kind == "email":
                self.change_email(i)
                done[kind].append(self.users[i].id)
            elif kind == "deactivate":
                self.deactivate(i)
                live.remove(i)
                done[kind].append(self.users[i].id)
            else:
                candidates = [g for g in self.groups if not g.deleted]
                group = rng.choice(candidates)
                if kind == "remove_member" and group.members:
                    member = rng.choice(sorted(group.members))
                    self.remove_member(group.index, member)
                else:
                    self.add_member(group.index, i)
                done[kind].append(group.id)
        return done
