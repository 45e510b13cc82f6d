"""Pure decisions: flow documents, matching, approvals, the state machine, durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from latchkey.contracts import (
    CommandApplied,
    CommandFailed,
    Event,
    ExtensionRequested,
    GrantExtended,
    GrantExtensionDenied,
    GrantExtensionRequested,
    RequestSubmitted,
    ReviewRecorded,
)
from latchkey.flow_engine.domain.approval import (
    Counted,
    Refused,
    ReviewContext,
    ReviewerChanges,
    eligible_entries,
    may_change_reviewers,
    record_review,
)
from latchkey.flow_engine.domain.documents import parse_flows
from latchkey.flow_engine.domain.flow import AccessFlow, ApprovalStep, Approver
from latchkey.flow_engine.domain.grant import (
    AccessRequest,
    CommandWindow,
    GrantState,
    IllegalTransition,
    Refusal,
    may_have_applied,
)
from latchkey.flow_engine.domain.identity import Identity, Person, Resource, Unmatched, find_person
from latchkey.flow_engine.domain.matching import AccessAsk, Match, NoMatch, clamp_duration, match_request

MONDAY_NOON = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def flow(name: str, permission: str, approval: dict, **spec: object) -> AccessFlow:
    return AccessFlow.model_validate(
        {
            "apiVersion": "latchkey/v1",
            "kind": "AccessFlow",
            "metadata": {"name": name},
            "spec": {
                "requesters": {"groups": ["engineering"]},
                "access": {
                    "integration": "pg-prod",
                    "resources": [{"name": "orders*", "type": "database"}],
                    "permissions": [permission],
                },
                "approval": approval,
                **spec,
            },
        }
    )


ALICE = Person(
    "u-alice",
    "alice@example.com",
    manager_id="u-mgr",
    group_ids=frozenset({"g-eng"}),
    group_names=("engineering",),
)
ORDERS = Resource(
    "pg-prod",
    "orders-db",
    "orders-db",
    "database",
    "conn-1",
    ("readonly", "readwrite"),
    frozenset({"u-owner"}),
)


def ask(permission: str = "readonly", **kw: object) -> AccessAsk:
    values: dict = {
        "integration_id": "pg-prod",
        "resource": "orders-db",
        "permission": permission,
        "duration_seconds": None,
        "justification": None,
        "at": MONDAY_NOON,
    }
    values.update(kw)
    return AccessAsk(**values)


def test_example_flows_validate() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "examples" / "flows"
    files = sorted(root.glob("*.yaml"))
    assert len(files) >= 2
    for path in files:
        flows, errors = parse_flows(path.read_text(), str(path))
        assert errors == [] and flows


def test_validation_errors_name_file_line_and_field() -> None:
    text = """apiVersion: latchkey/v1
kind: AccessFlow
metadata:
  name: broken
spec:
  requesters:
    groups: [engineering]
  access:
    integration: pg
    resources: [{name: "*"}]
    permissions: [readonly]
  approval:
    steps:
      - anyOf:
          - manager: true
            owner: true
  maxDuration: forever
  allowSelfAproval: true
"""
    _, errors = parse_flows(text, "flows/broken.yaml")
    rendered = [str(e) for e in errors]
    assert any(r.startswith("flows/broken.yaml:15: spec.approval.steps[0].anyOf[0]") for r in rendered), (
        rendered
    )
    assert any(r.startswith("flows/broken.yaml:17: spec.maxDuration") for r in rendered), rendered
    assert any("flows/broken.yaml:18: spec.allowSelfAproval: unknown field" in r for r in rendered), rendered


def test_invalid_yaml_reports_its_line() -> None:
    _, errors = parse_flows("apiVersion: latchkey/v1\nkind: [unclosed\n", "x.yaml")
    assert len(errors) == 1 and errors[0].line >= 2 and "not valid YAML" in errors[0].message


def test_automatic_flow_matches_group_member() -> None:
    result = match_request(ALICE, ask(), ORDERS, [flow("ro", "readonly", {"automatic": True})])
    assert isinstance(result, Match) and result.automatic and result.flow.name == "ro"


def test_denial_names_the_group_and_the_flows_that_would_work() -> None:
    result = match_request(
        ALICE, ask("readwrite"), ORDERS, [flow("orders-readonly", "readonly", {"automatic": True})]
    )
    assert isinstance(result, NoMatch)
    assert result.reason == (
        "no Access Flow lets group engineering request readwrite on orders-db; "
        "flows that grant readonly: orders-readonly"
    )


def test_required_justification_and_schedule_are_enforced() -> None:
    strict = flow(
        "strict",
        "readonly",
        {"automatic": True},
        justification="required",
        schedule={"timezone": "UTC", "windows": [{"weekdays": ["mon"], "hours": "09:00-17:00"}]},
    )
    assert "requires a justification" in match_request(ALICE, ask(), ORDERS, [strict]).reason  # type: ignore[union-attr]
    late = match_request(ALICE, ask(justification="incident 42", at=SATURDAY), ORDERS, [strict])
    assert isinstance(late, NoMatch) and "takes requests only mon 09:00-17:00" in late.reason
    assert isinstance(match_request(ALICE, ask(justification="incident 42"), ORDERS, [strict]), Match)


def test_out_of_hours_adds_the_extra_step() -> None:
    night = flow(
        "night",
        "readonly",
        {"automatic": True},
        schedule={
            "windows": [{"weekdays": ["mon"], "hours": "09:00-17:00"}],
            "outside": "extraStep",
            "extraStep": {"anyOf": [{"group": "oncall"}]},
        },
    )
    result = match_request(ALICE, ask(at=SATURDAY), ORDERS, [night])
    assert isinstance(result, Match) and not result.automatic and len(result.steps) == 1


def test_deactivated_or_unknown_resource_is_denied() -> None:
    ro = [flow("ro", "readonly", {"automatic": True})]
    gone = Person("u-alice", "alice@example.com", active=False, group_names=("engineering",))
    assert "deactivated" in match_request(gone, ask(), ORDERS, ro).reason  # type: ignore[union-attr]
    assert "not in the inventory" in match_request(ALICE, ask(), None, ro).reason  # type: ignore[union-attr]


def test_duration_is_clamped_to_flow_maximum() -> None:
    ro = flow("ro", "readonly", {"automatic": True}, defaultDuration="1h", maxDuration="2h")
    assert clamp_duration(None, ro.spec) == 3600
    result = match_request(ALICE, ask(duration_seconds=10 * 3600), ORDERS, [ro])
    assert isinstance(result, Match) and result.duration_seconds == 7200


@given(
    requested=st.one_of(st.none(), st.integers(min_value=-10, max_value=10**8)),
    default=st.integers(1, 10**5),
    extra=st.integers(0, 10**6),
)
def test_duration_never_exceeds_the_flow_maximum(requested: int | None, default: int, extra: int) -> None:
    ro = flow("ro", "readonly", {"automatic": True}, defaultDuration=default, maxDuration=default + extra)
    duration = clamp_duration(requested, ro.spec)
    assert 0 < duration <= ro.spec.max_duration


# -- approvals -------------------------------------------------------------------------------------

PEOPLE = [
    Person(
        f"u{i}",
        f"u{i}@example.com",
        manager_id="u1" if i == 0 else None,
        group_ids=frozenset({f"g{i % 3}", "gall"}),
        group_names=(f"team{i % 3}",),
    )
    for i in range(6)
]
REQUESTER = PEOPLE[0]
OWNERS = frozenset({"u2", "u0"})

approvers = st.one_of(
    st.builds(lambda i: Approver(user=f"u{i}"), st.integers(0, 5)),
    st.builds(lambda i: Approver(group=f"g{i}"), st.integers(0, 2)),
    st.just(Approver(group="gall")),
    st.just(Approver(manager=True)),
    st.just(Approver(owner=True)),
)
steps_strategy = st.lists(
    st.builds(
        lambda kind, entries, required: ApprovalStep(**{kind: entries, "required": required}),
        st.sampled_from(["any_of", "all_of"]),
        st.lists(approvers, min_size=1, max_size=3),
        st.integers(1, 2),
    ),
    min_size=1,
    max_size=3,
)


def qualifies(approver: Approver, person: Person) -> bool:
    if approver.user is not None:
        return approver.user == person.user_id
    if approver.group is not None:
        return approver.group in person.group_ids
    if approver.manager:
        return person.user_id == REQUESTER.manager_id
    return person.user_id in OWNERS


def oracle_step_ok(step: ApprovalStep, reviewers: list[Person]) -> bool:
    """Independent check: enough distinct non-requester people who qualify."""
    eligible = [p for p in reviewers if p.user_id != REQUESTER.user_id]
    if step.any_of is not None:
        return (
            len({p.user_id for p in eligible if any(qualifies(a, p) for a in step.any_of)}) >= step.required
        )
    need = sum(step.required if a.group is not None else 1 for a in step.approvers)
    return (
        all(any(qualifies(a, p) for p in eligible) for a in step.approvers)
        and len({p.user_id for p in eligible}) >= need
    )


def run_reviews(steps: list[ApprovalStep], reviewers: list[int], allow_self: bool = False):
    context = ReviewContext(REQUESTER, OWNERS, allow_self)
    current, records, approved, outcomes = 0, [], False, []
    for index in reviewers:
        if approved:
            break
        outcome = record_review(steps, current, records, PEOPLE[index], context)
        outcomes.append((index, outcome))
        if isinstance(outcome, Counted):
            records.append(outcome.record)
            if outcome.step_complete:
                current += 1
            approved = outcome.approved
    return approved, records, outcomes


@settings(max_examples=300, deadline=None)
@given(steps=steps_strategy, reviewers=st.lists(st.integers(0, 5), max_size=12))
def test_no_review_sequence_approves_unless_every_step_is_satisfied(
    steps: list[ApprovalStep], reviewers: list[int]
) -> None:
    approved, records, _ = run_reviews(steps, reviewers)
    if approved:
        for index, step in enumerate(steps):
            people = [
                p for p in PEOPLE if any(r.reviewer_id == p.user_id and r.step == index for r in records)
            ]
            assert oracle_step_ok(step, people), (index, step, records)
        # every step was reviewed by different people
        assert len({r.reviewer_id for r in records}) == len(records)


@settings(max_examples=300, deadline=None)
@given(steps=steps_strategy, reviewers=st.lists(st.integers(0, 5), max_size=12))
def test_self_approval_never_counts(steps: list[ApprovalStep], reviewers: list[int]) -> None:
    _, records, outcomes = run_reviews(steps, reviewers)
    assert all(r.reviewer_id != REQUESTER.user_id for r in records)
    assert all(isinstance(o, Refused) for i, o in outcomes if i == 0)
    only_self, _, _ = run_reviews(steps, [0] * len(reviewers))
    assert not only_self


def test_requester_in_approver_group_is_refused_with_reason() -> None:
    steps = [ApprovalStep(any_of=[Approver(group="gall")])]
    outcome = record_review(steps, 0, [], REQUESTER, ReviewContext(REQUESTER, OWNERS, False))
    assert isinstance(outcome, Refused) and "own request" in outcome.reason
    other = record_review(steps, 0, [], PEOPLE[3], ReviewContext(REQUESTER, OWNERS, False))
    assert isinstance(other, Counted) and other.approved


def test_two_steps_group_then_manager() -> None:
    steps = [ApprovalStep(any_of=[Approver(group="g2")]), ApprovalStep(all_of=[Approver(manager=True)])]
    context = ReviewContext(REQUESTER, OWNERS, False)
    manager_first = record_review(steps, 0, [], PEOPLE[1], context)
    assert isinstance(manager_first, Refused) and "not an approver for step 1" in manager_first.reason
    first = record_review(steps, 0, [], PEOPLE[2], context)
    assert isinstance(first, Counted) and first.step_complete and not first.approved
    second = record_review(steps, 1, [first.record], PEOPLE[1], context)
    assert isinstance(second, Counted) and second.approved


# -- the state machine -----------------------------------------------------------------------------


def new_request(approval: dict) -> tuple[AccessRequest, list]:
    f = flow(
        "ro",
        "readonly",
        approval,
        extension={"allowed": True, "maxTotal": "1h"},
        credentials={"rotateAfterRevoke": True},
    )
    submitted = RequestSubmitted(
        request_id="r1", id_token="t", integration_id="pg-prod", resource="orders-db", permission="readonly"
    )
    match = match_request(ALICE, ask(), ORDERS, [f])
    assert isinstance(match, Match)
    return AccessRequest.create(
        request_id="r1",
        requester=ALICE,
        resource=ORDERS,
        permission="readonly",
        justification=None,
        requester_public_key="pk",
        match=match,
        now=MONDAY_NOON,
        cause=submitted,
    )


def applied(kind: str, attempt: int = 1, rotated: bool = False) -> CommandApplied:
    return CommandApplied(
        command_id="c",
        grant_id="r1",
        connector_id="conn-1",
        command_type=kind,
        attempt=attempt,
        credential_rotated=rotated,
    )


def test_full_lifecycle_and_illegal_transitions() -> None:
    request, events = new_request({"automatic": True})
    assert request.state is GrantState.approved
    assert [e.type for e in events] == ["access.request.created", "access.request.approved"]
    window = CommandWindow(300, 60)
    command, _ = request.start_grant(MONDAY_NOON, window, events[0])
    assert (
        command.requester_public_key == "pk"
        and command.resource == "orders-db"
        and command.template == "readonly"
    )
    assert (command.not_after - command.issued_at).total_seconds() == 300
    with pytest.raises(IllegalTransition):
        request.start_revoke("requested", 1, MONDAY_NOON, window, events[0])
    assert request.state is GrantState.granting
    request.activate(applied("connector.grant"), MONDAY_NOON)
    extended = request.extend(7200, justification=None, requester=ALICE, now=MONDAY_NOON, cause=events[0])
    assert extended[0].expires_at.hour == 14  # 1h default + 1h extension cap
    with pytest.raises(Refusal):
        request.extend(60, justification=None, requester=ALICE, now=MONDAY_NOON, cause=events[0])
    revoke, revoking = request.start_revoke("expired", 1, MONDAY_NOON, window, events[0])
    assert revoke.rotate_credentials and revoking[0].confirm_by > MONDAY_NOON
    stale = CommandFailed(
        command_id="c", grant_id="r1", connector_id="conn-1", attempt=7, code="x", reason="y"
    )
    assert request.revoke_failed(stale) == []
    done = request.confirm_revoked(applied("connector.revoke", rotated=True))
    assert [e.type for e in done] == ["access.grant.revoked", "access.credential.rotated"]
    with pytest.raises(IllegalTransition):
        request.cancel(None, events[0])
    assert request.state is GrantState.revoked


def test_a_failed_grant_that_may_have_applied_is_undone_and_ends_failed_even_when_overdue() -> None:
    request, events = new_request({"automatic": True})
    window = CommandWindow(300, 60)
    request.start_grant(MONDAY_NOON, window, events[0])
    failure = CommandFailed(
        command_id="c", grant_id="r1", connector_id="conn-1", code="timeout", reason="60s", retryable=True
    )
    assert may_have_applied(failure)  # a connector older than the field: decided by the code
    assert not may_have_applied(failure.model_copy(update={"may_have_applied": False}))
    assert not may_have_applied(failure.model_copy(update={"code": "bad_signature"}))
    revoke, revoking = request.undo_failed_grant("timed out", MONDAY_NOON, window, failure)
    assert request.state is GrantState.revoking and revoke.attempt == 1
    assert (revoking[0].reason, revoking[0].detail) == ("failed", "timed out")
    with pytest.raises(IllegalTransition):  # a failed grant's undo is not a second undo
        request.undo_failed_grant("again", MONDAY_NOON, window, failure)
    request.mark_overdue(5, events[0])
    _, retry = request.start_revoke("retry", 6, MONDAY_NOON, window, events[0])
    assert (retry[0].reason, retry[0].detail, request.state) == (
        "retry",
        "timed out",
        GrantState.revoke_overdue,
    )
    done = request.confirm_revoked(applied("connector.revoke", attempt=6))
    assert [e.type for e in done] == ["access.grant.failed"] and request.state is GrantState.failed
    assert "timed out" in done[0].reason and "revoked" in done[0].reason  # type: ignore[attr-defined]


# -- extensions that need approval -----------------------------------------------------------------

EXTEND = ExtensionRequested(request_id="r1", id_token="t", extra_seconds=1800)
WINDOW = CommandWindow(300, 60)


def active_grant(
    steps: list[ApprovalStep] | None = None, *, at: datetime = MONDAY_NOON, **spec: object
) -> AccessRequest:
    """An active grant (1h from `at`) of REQUESTER under a flow whose extensions need approval
    through `steps`."""
    approval: dict = (
        {"automatic": True}
        if steps is None
        else {"steps": [s.model_dump(by_alias=True, exclude_none=True) for s in steps], "timeout": "2h"}
    )
    document = {
        "apiVersion": "latchkey/v1",
        "kind": "AccessFlow",
        "metadata": {"name": "rw"},
        "spec": {
            "requesters": {"users": [REQUESTER.user_id]},
            "access": {"integration": "pg-prod", "resources": [{"name": "orders*"}], "permissions": ["rw"]},
            "approval": approval,
            "defaultDuration": "1h",
            "maxDuration": "4h",
            "extension": {"allowed": True, "maxTotal": "1h", "requiresApproval": True},
            **spec,
        },
    }
    f = AccessFlow.model_validate(document)
    request, events = AccessRequest.create(
        request_id="r1",
        requester=REQUESTER,
        resource=ORDERS,
        permission="rw",
        justification="x",
        requester_public_key=None,
        match=Match(f, 3600, ()),  # granted at once: the extension is what goes through the steps
        now=at,
        cause=events_cause(),
    )
    request.start_grant(at, WINDOW, events[0])
    request.activate(applied("connector.grant"), at)
    return request


def events_cause() -> Event:
    return RequestSubmitted(
        request_id="r1", id_token="t", integration_id="pg-prod", resource="orders-db", permission="rw"
    )


def ask_extension(request: AccessRequest, requester: Person = REQUESTER, **kw: object) -> list[Event]:
    values: dict = {"justification": "still migrating", "requester": requester, "now": MONDAY_NOON}
    values.update(kw)
    return request.extend(1800, cause=EXTEND, **values)


def review(
    request: AccessRequest, reviewer: Person, approve: bool = True, allow_self: bool = False
) -> list[Event] | Refused:
    """What flow-engine does with a review: count it towards `ballot()` by the approval rules."""
    ballot = request.ballot()
    assert ballot is not None
    verdict = record_review(
        ballot.steps,
        ballot.current_step,
        ballot.approvals,
        reviewer,
        ReviewContext(REQUESTER, OWNERS, allow_self),
    )
    if not isinstance(verdict, Counted):
        return verdict
    if not approve:
        return request.deny_extension("no", reviewer.user_id, EXTEND)
    return request.count_review(verdict, None, EXTEND)


@settings(max_examples=300, deadline=None)
@given(steps=steps_strategy, reviewers=st.lists(st.integers(0, 5), max_size=12))
def test_an_extension_is_never_granted_unless_every_step_is_satisfied(
    steps: list[ApprovalStep], reviewers: list[int]
) -> None:
    request = active_grant(steps)
    ends = request.expires_at
    assert [e.type for e in ask_extension(request)] == ["access.grant.extension_requested"]
    records, extended = [], []
    for index in reviewers:
        if request.ballot() is None:
            break
        outcome = review(request, PEOPLE[index])
        if isinstance(outcome, Refused):
            continue
        records += [e for e in outcome if isinstance(e, ReviewRecorded)]
        extended += [e for e in outcome if isinstance(e, GrantExtended)]
    assert request.state is GrantState.active  # whatever happened, the grant stayed live
    assert all(r.extension for r in records)
    event("extended" if extended else "still pending")
    if extended:
        for number, step in enumerate(steps):
            people = [
                p for p in PEOPLE if any(r.reviewer_id == p.user_id and r.step == number for r in records)
            ]
            assert oracle_step_ok(step, people), (number, step, records)
        assert len({r.reviewer_id for r in records}) == len(records)
        assert extended[0].approver_ids == list(dict.fromkeys(r.reviewer_id for r in records))
        assert request.expires_at == ends + timedelta(minutes=30) and request.pending_extension is None
    else:
        assert request.expires_at == ends and request.extended_seconds == 0
        assert request.pending_extension is not None


@settings(max_examples=200, deadline=None)
@given(steps=steps_strategy, reviewers=st.lists(st.integers(0, 5), max_size=12))
def test_self_approval_never_counts_towards_an_extension(
    steps: list[ApprovalStep], reviewers: list[int]
) -> None:
    request = active_grant(steps)
    ask_extension(request)
    for index in reviewers:
        if request.ballot() is None:
            break
        outcome = review(request, PEOPLE[index])
        if index == 0:
            assert isinstance(outcome, Refused) and "own request" in outcome.reason
    extension = request.pending_extension
    assert extension is None or all(r.reviewer_id != REQUESTER.user_id for r in extension.approvals)
    alone = active_grant(steps)
    ask_extension(alone)
    for _ in reviewers:
        assert isinstance(review(alone, REQUESTER), Refused)
    assert alone.pending_extension is not None and alone.extended_seconds == 0


def test_extension_waits_for_every_step_then_extends_with_the_approvers() -> None:
    steps = [ApprovalStep(any_of=[Approver(group="g2")]), ApprovalStep(all_of=[Approver(manager=True)])]
    request = active_grant(steps)
    ends = request.expires_at
    assert ends is not None
    (asked,) = ask_extension(request)
    assert isinstance(asked, GrantExtensionRequested)
    assert (asked.requested_by, asked.extra_seconds, asked.expires_at) == ("u0", 1800, ends)
    assert asked.approval_deadline == ends  # the flow's 2h timeout would outlive the grant's end
    assert asked.steps == ["step 1: any of group g2", "step 2: all of the requester's manager"]
    with pytest.raises(Refusal) as twice:
        ask_extension(request)
    assert twice.value.code == "extension_pending" and "step 1: any of group g2" in twice.value.reason
    manager_first = review(request, PEOPLE[1])
    assert isinstance(manager_first, Refused) and "not an approver for step 1" in manager_first.reason
    first = review(request, PEOPLE[2])
    assert [e.type for e in first] == ["access.review.recorded"]  # type: ignore[union-attr]
    assert request.expires_at == ends and request.pending_extension is not None
    second = review(request, PEOPLE[1])
    assert isinstance(second, list) and isinstance(second[-1], GrantExtended)
    assert second[-1].approver_ids == ["u2", "u1"] and second[-1].expires_at == ends + timedelta(minutes=30)
    assert request.ballot() is None and request.extended_seconds == 1800
    # the allowance (maxTotal 1h) is enforced up front: 30m left, so the next ask is cut to 30m
    (again,) = ask_extension(request, now=MONDAY_NOON + timedelta(minutes=10))
    assert isinstance(again, GrantExtensionRequested) and again.extra_seconds == 1800


def test_denied_lapsed_or_revoked_extension_leaves_the_grant_as_it_was() -> None:
    request = active_grant([ApprovalStep(any_of=[Approver(group="gall")])])
    ends = request.expires_at
    ask_extension(request)
    (denied,) = review(request, PEOPLE[3], approve=False)  # type: ignore[misc]
    assert isinstance(denied, GrantExtensionDenied) and denied.denied_by == "u3"
    assert request.state is GrantState.active and request.expires_at == ends and request.ballot() is None
    (asked,) = ask_extension(request)
    assert isinstance(asked, GrantExtensionRequested)
    assert request.lapse_extension(asked.approval_deadline - timedelta(hours=1), EXTEND) == []  # stale timer
    (lapsed,) = request.lapse_extension(asked.approval_deadline, EXTEND)
    assert isinstance(lapsed, GrantExtensionDenied) and "no approval of the extension by" in lapsed.reason
    assert request.expires_at == ends and request.pending_extension is None
    ask_extension(request)
    _, events = request.start_revoke("expired", 1, MONDAY_NOON, WINDOW, EXTEND)
    assert [e.type for e in events] == ["access.grant.revoking", "access.grant.extension_denied"]
    assert request.ballot() is None and request.pending_extension is None


def test_an_extension_is_evaluated_against_the_flow_like_a_new_request() -> None:
    step = [ApprovalStep(any_of=[Approver(group="gall")])]
    weekdays = {"timezone": "UTC", "windows": [{"weekdays": ["mon"], "hours": "09:00-17:00"}]}

    def refusal(request: AccessRequest, **kw: object) -> str:
        with pytest.raises(Refusal) as refused:
            ask_extension(request, **kw)
        return refused.value.code

    assert (
        refusal(active_grant(step, justification="required"), justification=" ") == "justification_required"
    )
    late = MONDAY_NOON + timedelta(hours=5, minutes=10)  # 17:10, the window closed at 17:00
    granted_at = MONDAY_NOON + timedelta(hours=4, minutes=30)
    assert refusal(active_grant(step, at=granted_at, schedule=weekdays), now=late) == "outside_schedule"
    out_of_hours = {**weekdays, "outside": "extraStep", "extraStep": {"anyOf": [{"user": "u5"}]}}
    (asked,) = ask_extension(active_grant(step, at=granted_at, schedule=out_of_hours), now=late)
    assert isinstance(asked, GrantExtensionRequested)
    assert asked.steps == ["step 1: any of group gall", "step 2: any of user u5"]  # out of hours: +1 step
    assert refusal(active_grant(None)) == "extension_needs_approval"  # automatic flow: nobody to ask
    left = active_grant(step)
    left.flow_document["spec"]["requesters"] = {"users": ["someone-else"]}
    left._flow = None
    assert refusal(left) == "not_allowed"  # no longer among the flow's requesters
    used = active_grant(step)
    used.extended_seconds = 3600
    assert refusal(used) == "extension_limit"  # maxTotal is checked before anyone is asked
    ended = active_grant(step)
    assert refusal(ended, now=MONDAY_NOON + timedelta(hours=2)) == "invalid_state"


# -- who may review, when identities or inventory change ------------------------------------------
USERS_ = [f"u{i}" for i in range(3)]
GROUPS_ = {f"g{i}": f"group-{i}" for i in range(2)}
approver_strategy = st.one_of(
    st.sampled_from(USERS_).map(lambda u: Approver(user=u)),
    st.tuples(st.sampled_from(USERS_), st.sampled_from("ab")).map(
        lambda ul: Approver(user=f"{ul[0]}{ul[1]}@Example.com".upper())  # by email, any case
    ),
    st.sampled_from([*GROUPS_, *GROUPS_.values(), "group-x"]).map(lambda g: Approver(group=g)),
    st.just(Approver(manager=True)),
    st.just(Approver(owner=True)),
)
person_state = st.tuples(
    st.sampled_from([None, "a", "b"]),  # email local part
    st.booleans(),  # active
    st.sampled_from([None, *USERS_]),  # manager
    st.frozensets(st.sampled_from(list(GROUPS_))),  # groups
)


def _people(states: list[tuple], names: dict[str, str] = GROUPS_) -> dict[str, Person]:
    """People as the read model gives them, with their groups' `names` (group id → name): a name two
    groups have is a shared one, which names neither."""
    shared = {n for n in names.values() if list(names.values()).count(n) > 1}
    return {
        user: Person(
            user,
            f"{user}{local}@example.com" if local else None,
            active,
            manager,
            groups,
            tuple(sorted({names[g] for g in groups} - shared)),
            frozenset({names[g] for g in groups} & shared),
        )
        for user, (local, active, manager, groups) in zip(USERS_, states, strict=True)
    }


def _listed(step: ApprovalStep, people: dict[str, Person], owners: frozenset[str]) -> list[tuple]:
    """Who a ReviewRequested would name (active, qualifying, never the requester u0)."""
    context = ReviewContext(people["u0"], owners, False)
    return [(p.user_id, p.email) for p in people.values() if p.active and eligible_entries(step, p, context)]


@settings(max_examples=1500, deadline=None)
@given(
    approvers=st.lists(approver_strategy, min_size=1, max_size=3),
    before=st.lists(person_state, min_size=3, max_size=3),
    changed_user=st.sampled_from(USERS_),
    after_state=person_state,
    owners=st.tuples(st.frozensets(st.sampled_from(USERS_)), st.frozensets(st.sampled_from(USERS_))),
    kind=st.sampled_from(["user", "group", "rename", "owners"]),
    new_name=st.sampled_from([*GROUPS_.values(), "group-x"]),
)
def test_changes_said_not_to_concern_a_step_leave_its_reviewers_as_they_were(
    approvers: list[Approver],
    before: list[tuple],
    changed_user: str,
    after_state: tuple,
    owners: tuple[frozenset[str], frozenset[str]],
    kind: str,
    new_name: str,
) -> None:
    """The relevance filter flow-engine uses before announcing a step again: when it says a change
    cannot concern a step, the list of reviewers really is the same before and after."""
    step = ApprovalStep(any_of=approvers)
    people = _people(before)
    resource = ("pg", "db")
    owners_before, owners_after = owners[0], owners[0]
    after = dict(people)
    changes = ReviewerChanges()
    if kind == "user":  # identity-sync: a person's email, active flag or manager (their groups stay)
        local, active, manager, _ = after_state
        old = people[changed_user]
        email = f"{changed_user}{local}@example.com" if local else None
        after[changed_user] = Person(changed_user, email, active, manager, old.group_ids, old.group_names)
        changes.users = {changed_user}
        changes.emails = {e.lower() for e in (old.email, email) if e}
        changes.groups = set(old.group_ids) | set(old.group_names)
    elif kind == "group":  # a group's members: the changed user joins or leaves group g0
        old = people[changed_user]
        groups = old.group_ids ^ {"g0"}
        after[changed_user] = Person(
            changed_user,
            old.email,
            old.active,
            old.manager_id,
            groups,
            tuple(GROUPS_[g] for g in sorted(groups)),
        )
        changes.groups = {"g0", GROUPS_["g0"]}
    elif kind == "rename":  # group g1 renamed: to a name of its own, or to g0's (which then names neither)
        after = _people(before, {**GROUPS_, "g1": new_name})
        changes.groups = {"g1", new_name, GROUPS_["g1"]}  # the event's id and name, the name it had
    else:  # the inventory: the resource's owners
        owners_after = owners[1]
        changes.resources = {resource}
    concerned = may_change_reviewers(step, people["u0"], owners_before, resource, changes)
    event(f"{kind}: {'concerned' if concerned else 'not concerned'}")
    if not concerned:
        assert _listed(step, people, owners_before) == _listed(step, after, owners_after)


# -- which synced person a token names; which group a flow names ----------------------------------
DIRECTORY = {"u-alice": ALICE, "email:alice@example.com": ALICE}


def test_a_token_names_a_person_by_sub_then_oid_then_only_a_verified_email() -> None:
    assert find_person(Identity("u-alice"), DIRECTORY) is ALICE
    # Entra ID: a pairwise sub, the object id in oid
    assert find_person(Identity("pairwise-x1", object_id="u-alice"), DIRECTORY) is ALICE
    verified = Identity("pairwise-x1", "Alice@Example.com", email_verified=True)
    assert find_person(verified, DIRECTORY) is ALICE
    # an email the IdP did not verify names nobody, and the refusal says what to do
    unverified = find_person(Identity("pairwise-x1", "alice@example.com"), DIRECTORY)
    assert isinstance(unverified, Unmatched) and unverified.code == "unverified_email"
    assert "not verified" in unverified.reason and "sync users by the id" in unverified.reason
    # ... unless the deployment trusts unverified emails (a legacy IdP that never sends the claim)
    claimed = Identity("pairwise-x1", "alice@example.com")
    assert find_person(claimed, DIRECTORY, trust_unverified_email=True) is ALICE
    nobody = find_person(Identity("someone", "eve@example.com", email_verified=True), DIRECTORY)
    assert isinstance(nobody, Unmatched) and nobody.code == "unknown_user"
    # sub before oid before email
    bob = Person("u-bob", "bob@example.com")
    both = {**DIRECTORY, "u-bob": bob}
    assert find_person(Identity("u-bob", "alice@example.com", True, "u-alice"), both) is bob
    assert find_person(Identity("x", "bob@example.com", True, "u-alice"), both) is ALICE


SHARED_ENGINEERING = Person(
    "u-mallory",
    "mallory@example.com",
    group_ids=frozenset({"g-fake-eng", "g-other"}),
    group_names=("other",),
    shared_group_names=frozenset({"engineering"}),
)


def test_a_group_name_several_groups_share_matches_none_of_them_and_the_denial_says_why() -> None:
    ro = flow("ro", "readonly", {"automatic": True})
    assert not SHARED_ENGINEERING.in_group("engineering") and SHARED_ENGINEERING.in_group("g-fake-eng")
    result = match_request(SHARED_ENGINEERING, ask(), ORDERS, [ro])
    assert isinstance(result, NoMatch)
    assert "group name engineering is ambiguous" in result.reason
    assert "name the group by its id in the flow" in result.reason
    # a flow naming the group by id still matches
    by_id = AccessFlow.model_validate(
        {**ro.document(), "spec": {**ro.document()["spec"], "requesters": {"groups": ["g-fake-eng"]}}}
    )
    assert isinstance(match_request(SHARED_ENGINEERING, ask(), ORDERS, [by_id]), Match)


def test_an_approver_group_named_by_a_shared_name_lets_nobody_approve() -> None:
    steps = [ApprovalStep(any_of=[Approver(group="engineering")])]
    context = ReviewContext(REQUESTER, OWNERS, False)
    refused = record_review(steps, 0, [], SHARED_ENGINEERING, context)
    assert isinstance(refused, Refused)
    assert "not an approver" in refused.reason and "group name engineering is ambiguous" in refused.reason
    by_id = [ApprovalStep(any_of=[Approver(group="g-fake-eng")])]
    assert isinstance(record_review(by_id, 0, [], SHARED_ENGINEERING, context), Counted)


def test_a_flow_lists_every_group_it_names() -> None:
    f = flow(
        "rw",
        "readwrite",
        {"steps": [{"anyOf": [{"group": "db-admins"}, {"user": "u1"}]}, {"allOf": [{"group": "g-sre"}]}]},
        schedule={
            "windows": [{"weekdays": ["mon"]}],
            "outside": "extraStep",
            "extraStep": {"anyOf": [{"group": "oncall"}]},
        },
    )
    assert f.group_references() == {"engineering", "db-admins", "g-sre", "oncall"}


def test_a_connectors_longest_reason_still_fits_every_event_that_repeats_it() -> None:
    """A CommandFailed reason may be 2,000 characters; the lifecycle events that quote it with a
    prefix of their own must still be valid (else the result is dead-lettered and the grant is stuck)."""
    request, events = new_request({"automatic": True})
    window = CommandWindow(300, 60)
    request.start_grant(MONDAY_NOON, window, events[0])
    longest = CommandFailed(
        command_id="c", grant_id="r1", connector_id="conn-1", code="x" * 64, reason="y" * 2_000
    )
    reason = f"the connector could not grant ({longest.code}): {longest.reason}"
    _, revoking = request.undo_failed_grant(reason, MONDAY_NOON, window, longest)
    assert len(revoking[0].detail or "") == 2_000  # type: ignore[attr-defined]
    failed_revoke = longest.model_copy(update={"attempt": 1})
    assert len(request.revoke_failed(failed_revoke)[0].reason) == 2_000  # type: ignore[attr-defined]
    done = request.confirm_revoked(applied("connector.revoke"))
    assert done[0].reason.endswith("; what it may have applied is revoked")  # type: ignore[attr-defined]
    assert len(done[0].reason) == 2_000  # type: ignore[attr-defined]
