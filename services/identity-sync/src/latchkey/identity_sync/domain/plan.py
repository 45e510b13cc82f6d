"""What a sync run changes: the stored (published) directory against what the IdP reports now.

Pure functions. The engine loads the stored rows, calls `plan_full` or `plan_delta`, and writes the
plan's rows and events in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .model import GroupPatch, IdentityGroup, IdentityUser, UserPatch


@dataclass(frozen=True, slots=True)
class StoredGroup:
    """A group row: its direct structure (to apply deltas to) and the flattened members last published."""

    id: str
    name: str
    direct_member_ids: frozenset[str]
    subgroup_ids: frozenset[str]
    member_ids: frozenset[str]

    def structure(self) -> IdentityGroup:
        return IdentityGroup(self.id, self.name, self.direct_member_ids, self.subgroup_ids)


@dataclass(slots=True)
class SyncPlan:
    """Rows to write and events to publish. Rows may change without an event (e.g. a nested group's
    direct structure moved but its flattened members did not); an event never goes out without its row."""

    write_users: list[IdentityUser] = field(default_factory=list)
    delete_users: list[str] = field(default_factory=list)
    upserted_users: list[IdentityUser] = field(default_factory=list)
    deactivated_users: list[str] = field(default_factory=list)
    write_groups: list[StoredGroup] = field(default_factory=list)
    delete_groups: list[str] = field(default_factory=list)
    upserted_groups: list[StoredGroup] = field(default_factory=list)

    @property
    def event_count(self) -> int:
        # a deleted group publishes GroupDeleted and a tombstone
        return (
            len(self.upserted_users)
            + len(self.deactivated_users)
            + len(self.upserted_groups)
            + 2 * len(self.delete_groups)
        )

    def summary(self) -> dict[str, int]:
        return {
            "users_upserted": len(self.upserted_users),
            "users_deactivated": len(self.deactivated_users),
            "groups_upserted": len(self.upserted_groups),
            "groups_deleted": len(self.delete_groups),
            "user_rows_written": len(self.write_users),
            "user_rows_deleted": len(self.delete_users),
            "group_rows_written": len(self.write_groups),
        }


def flatten_memberships(groups: Mapping[str, IdentityGroup]) -> dict[str, frozenset[str]]:
    """Each group's users including those of nested groups, transitively; cycles and references to
    groups outside the listing are tolerated (a cycle's groups all get the cycle's union)."""
    flattened: dict[str, frozenset[str]] = {}
    for group_id, group in groups.items():
        if not group.subgroup_ids:
            flattened[group_id] = group.member_ids
            continue
        members = set(group.member_ids)
        seen = {group_id}
        pending = list(group.subgroup_ids)
        while pending:
            child_id = pending.pop()
            if child_id in seen:
                continue
            seen.add(child_id)
            child = groups.get(child_id)
            if child is None:
                continue
            members.update(child.member_ids)
            pending.extend(child.subgroup_ids)
        flattened[group_id] = frozenset(members)
    return flattened


def _plan_user(plan: SyncPlan, before: IdentityUser | None, after: IdentityUser | None) -> None:
    if after is None:
        if before is None:
            return
        plan.delete_users.append(before.id)
        if before.active:  # removed from the IdP: all access must end
            plan.deactivated_users.append(before.id)
        return
    if before == after:
        return
    plan.write_users.append(after)
    if before is not None and before.active and not after.active:
        plan.deactivated_users.append(after.id)
    else:
        plan.upserted_users.append(after)


def _plan_groups(
    plan: SyncPlan, stored: Mapping[str, StoredGroup], current: Mapping[str, IdentityGroup]
) -> None:
    flattened = flatten_memberships(current)
    for group_id, group in current.items():
        before = stored.get(group_id)
        after = StoredGroup(group_id, group.name, group.member_ids, group.subgroup_ids, flattened[group_id])
        if before == after:
            continue
        plan.write_groups.append(after)
        if before is None or before.name != after.name or before.member_ids != after.member_ids:
            plan.upserted_groups.append(after)
    plan.delete_groups.extend(group_id for group_id in stored if group_id not in current)


def plan_full(
    stored_users: Mapping[str, IdentityUser],
    stored_groups: Mapping[str, StoredGroup],
    users: Iterable[IdentityUser],
    groups: Iterable[IdentityGroup],
) -> SyncPlan:
    """The plan that makes the stored directory equal to a complete listing of the IdP."""
    plan = SyncPlan()
    listed: set[str] = set()
    for user in users:
        listed.add(user.id)
        _plan_user(plan, stored_users.get(user.id), user)
    for user_id, before in stored_users.items():
        if user_id not in listed:
            _plan_user(plan, before, None)
    _plan_groups(plan, stored_groups, {group.id: group for group in groups})
    return plan


def apply_user_patch(before: IdentityUser | None, patch: UserPatch) -> IdentityUser | None:
    """The user after a delta change; None if removed, or if a new user arrives without an email."""
    if patch.removed:
        return None
    email = patch.email if patch.email is not None else (before.email if before else None)
    if not email:
        return None
    active = patch.active if patch.active is not None else (before.active if before else True)
    manager_id = patch.manager_id if patch.manager_reported else (before.manager_id if before else None)
    return IdentityUser(patch.id, email, active, manager_id)


def apply_group_patch(before: IdentityGroup | None, patch: GroupPatch) -> IdentityGroup | None:
    if patch.removed:
        return None
    name = patch.name if patch.name is not None else (before.name if before else patch.id)
    members = set(patch.members if patch.members is not None else before.member_ids if before else ())
    members -= patch.removed_members
    members |= patch.added_members
    subgroups = set(before.subgroup_ids) if before else set()
    subgroups -= patch.removed_subgroups
    subgroups |= patch.added_subgroups
    return IdentityGroup(patch.id, name, frozenset(members), frozenset(subgroups))


def groups_to_replan(nesting: Mapping[str, Iterable[str]], group_patches: Iterable[GroupPatch]) -> set[str]:
    """The stored groups a delta round needs: the patched groups, every group nesting one of them at any
    depth (its flattened members may change) and every group nested in those (to flatten them).
    `nesting` maps each stored group that has subgroups to their ids. A round that touches a few flat
    groups (the common case) needs just those, not the whole directory."""
    parents: dict[str, list[str]] = {}
    children: dict[str, set[str]] = {}
    for parent, subgroups in nesting.items():
        children[parent] = set(subgroups)
        for child in subgroups:
            parents.setdefault(child, []).append(parent)
    patched = []
    for patch in group_patches:
        patched.append(patch.id)
        children.setdefault(patch.id, set()).update(patch.added_subgroups)
    affected: set[str] = set()
    pending = list(patched)
    while pending:
        group_id = pending.pop()
        if group_id not in affected:
            affected.add(group_id)
            pending.extend(parents.get(group_id, ()))
    needed: set[str] = set()
    pending = list(affected)
    while pending:
        group_id = pending.pop()
        if group_id not in needed:
            needed.add(group_id)
            pending.extend(children.get(group_id, ()))
    return needed


def plan_delta(
    stored_users: Mapping[str, IdentityUser],
    stored_groups: Mapping[str, StoredGroup],
    user_patches: Iterable[UserPatch],
    group_patches: Iterable[GroupPatch],
) -> SyncPlan:
    """The plan for a delta-query round. `stored_users` needs only the patched users; `stored_groups`
    needs every stored group `groups_to_replan` names (a change to a nested group changes its parents'
    flattened members); groups outside that set are unaffected by the round."""
    plan = SyncPlan()
    for patch in user_patches:
        before = stored_users.get(patch.id)
        _plan_user(plan, before, apply_user_patch(before, patch))
    current = {group_id: group.structure() for group_id, group in stored_groups.items()}
    for group_patch in group_patches:
        after = apply_group_patch(current.get(group_patch.id), group_patch)
        if after is None:
            current.pop(group_patch.id, None)
        else:
            current[group_patch.id] = after
    _plan_groups(plan, stored_groups, current)
    return plan
