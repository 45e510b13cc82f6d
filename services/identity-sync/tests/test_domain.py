"""The pure change plan: what each difference between snapshot and IdP turns into."""

from __future__ import annotations

from latchkey.identity_sync.domain.model import GroupPatch, IdentityGroup, IdentityUser, UserPatch
from latchkey.identity_sync.domain.plan import (
    StoredGroup,
    flatten_memberships,
    groups_to_replan,
    plan_delta,
    plan_full,
)

ALICE = IdentityUser("u1", "alice@example.test", True, "u3")


def stored(*groups: IdentityGroup) -> dict[str, StoredGroup]:
    flat = flatten_memberships({g.id: g for g in groups})
    return {g.id: StoredGroup(g.id, g.name, g.member_ids, g.subgroup_ids, flat[g.id]) for g in groups}


def test_flattening_is_transitive_and_survives_cycles() -> None:
    groups = {
        "a": IdentityGroup("a", "a", frozenset({"u1"}), frozenset({"b"})),
        "b": IdentityGroup("b", "b", frozenset({"u2"}), frozenset({"c", "missing"})),
        "c": IdentityGroup("c", "c", frozenset({"u3"}), frozenset({"a"})),
    }
    flat = flatten_memberships(groups)
    assert flat["a"] == flat["b"] == flat["c"] == {"u1", "u2", "u3"}


def test_new_inactive_user_is_upserted_inactive_and_only_a_transition_deactivates() -> None:
    inactive = IdentityUser("u2", "bob@example.test", False)
    plan = plan_full({}, {}, [inactive], [])
    assert plan.upserted_users == [inactive] and plan.deactivated_users == []

    plan = plan_full({"u1": ALICE}, {}, [IdentityUser("u1", "alice@example.test", False, "u3")], [])
    assert plan.upserted_users == [] and plan.deactivated_users == ["u1"] and len(plan.write_users) == 1


def test_removed_user_is_deactivated_once() -> None:
    plan = plan_full({"u1": ALICE}, {}, [], [])
    assert plan.deactivated_users == ["u1"] and plan.delete_users == ["u1"]
    already_inactive = IdentityUser("u1", "alice@example.test", False)
    plan = plan_full({"u1": already_inactive}, {}, [], [])
    assert plan.deactivated_users == [] and plan.delete_users == ["u1"]


def test_unchanged_listing_plans_nothing() -> None:
    group = IdentityGroup("g", "eng", frozenset({"u1"}))
    plan = plan_full({"u1": ALICE}, stored(group), [ALICE], [group])
    assert plan.event_count == 0 and plan.write_users == [] and plan.write_groups == []


def test_group_structure_change_without_membership_change_writes_but_does_not_publish() -> None:
    before = [
        IdentityGroup("p", "p", frozenset({"u1"}), frozenset({"c"})),
        IdentityGroup("c", "c", frozenset({"u1"})),
    ]
    after = [IdentityGroup("p", "p", frozenset({"u1"})), IdentityGroup("c", "c", frozenset({"u1"}))]
    plan = plan_full({}, stored(*before), [], after)
    assert [g.id for g in plan.write_groups] == ["p"] and plan.upserted_groups == []


def test_delta_keeps_unreported_fields_and_merges_members() -> None:
    group = IdentityGroup("g", "eng", frozenset({"u1", "u2"}))
    plan = plan_delta(
        {"u1": ALICE},
        stored(group),
        [UserPatch("u1", email="alice@new.test")],
        [GroupPatch("g", removed_members={"u2"}, added_members={"u4"})],
    )
    assert plan.upserted_users == [IdentityUser("u1", "alice@new.test", True, "u3")]
    assert [sorted(g.member_ids) for g in plan.upserted_groups] == [["u1", "u4"]]


def test_delta_nested_change_republishes_parent() -> None:
    parent = IdentityGroup("p", "p", frozenset(), frozenset({"c"}))
    child = IdentityGroup("c", "c", frozenset({"u1"}))
    plan = plan_delta({}, stored(parent, child), [], [GroupPatch("c", added_members={"u2"})])
    assert sorted(g.id for g in plan.upserted_groups) == ["c", "p"]
    plan = plan_delta({}, stored(parent, child), [], [GroupPatch("c", removed=True)])
    assert plan.delete_groups == ["c"] and [g.id for g in plan.upserted_groups] == ["p"]


def test_delta_with_complete_members_replaces_them() -> None:
    group = IdentityGroup("g", "eng", frozenset({"u1", "u2"}))
    plan = plan_delta({}, stored(group), [], [GroupPatch("g", name="eng", members=frozenset({"u2", "u3"}))])
    assert [sorted(g.member_ids) for g in plan.upserted_groups] == [["u2", "u3"]]
    plan = plan_delta({}, stored(group), [], [GroupPatch("g", name="eng", members=frozenset({"u1", "u2"}))])
    assert plan.event_count == 0 and plan.write_groups == []


def test_a_delta_round_replans_patched_groups_their_ancestors_and_what_they_nest() -> None:
    # top > mid > leaf > deep; side > leaf; other and lone stand apart
    nesting = {"top": {"mid"}, "mid": {"leaf"}, "side": {"leaf"}, "leaf": {"deep"}, "other": {"x"}}
    assert groups_to_replan(nesting, [GroupPatch("lone")]) == {"lone"}
    assert groups_to_replan(nesting, [GroupPatch("leaf")]) == {"top", "mid", "side", "leaf", "deep"}
    assert groups_to_replan(nesting, [GroupPatch("new", added_subgroups={"other"})]) == {"new", "other", "x"}
    # planning with only those groups gives the same plan as with the whole directory
    groups = [
        IdentityGroup("top", "top", frozenset({"u1"}), frozenset({"mid"})),
        IdentityGroup("mid", "mid", frozenset(), frozenset({"leaf"})),
        IdentityGroup("side", "side", frozenset({"u9"}), frozenset({"leaf"})),
        IdentityGroup("leaf", "leaf", frozenset({"u2"}), frozenset({"deep"})),
        IdentityGroup("deep", "deep", frozenset({"u3"})),
        IdentityGroup("lone", "lone", frozenset({"u4"})),
    ]
    everything = stored(*groups)
    patches = [GroupPatch("deep", added_members={"u5"})]
    needed = groups_to_replan({g.id: g.subgroup_ids for g in groups if g.subgroup_ids}, patches)
    partial = plan_delta({}, {k: v for k, v in everything.items() if k in needed}, [], patches)
    full = plan_delta({}, everything, [], patches)
    assert sorted(g.id for g in partial.upserted_groups) == ["deep", "leaf", "mid", "side", "top"]
    assert partial.upserted_groups == full.upserted_groups and partial.write_groups == full.write_groups


def test_a_user_listed_twice_in_one_delta_round_keeps_what_each_copy_reported() -> None:
    """Graph may list one user twice in a round, each copy with some properties: a deactivation in
    the first copy and the manager in the second must both survive (else the deactivation is lost
    until the next full sync, and the delta link has moved past it)."""
    first = UserPatch("u1", email="alice@example.test", active=False)
    second = UserPatch("u1", manager_id="u9", manager_reported=True)
    merged = first.then(second)
    assert (merged.email, merged.active, merged.manager_id, merged.removed) == (
        "alice@example.test",
        False,
        "u9",
        False,
    )
    assert second.then(UserPatch("u1", active=True)).manager_id == "u9"  # a later copy without manager
    assert first.then(UserPatch("u1", removed=True)).removed  # deleted at the end of the round
