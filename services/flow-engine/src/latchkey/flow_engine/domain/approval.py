"""Approval steps: who may approve the current step, and when a step (and the request) is satisfied.

Rules: steps are passed in order; a reviewer counts once per request (the same person cannot carry two
steps); the requester never counts unless the flow allows self-approval, however they qualify
(user, group, manager, owner).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .flow import ApprovalStep, Approver
from .identity import Person, ambiguity_note


@dataclass(frozen=True)
class ReviewRecord:
    """One approval that counted: at `step`, by `reviewer_id`, qualifying for approver entries `entries`."""

    step: int
    reviewer_id: str
    entries: tuple[int, ...]


@dataclass(frozen=True)
class ReviewContext:
    requester: Person
    owner_ids: frozenset[str]
    allow_self_approval: bool


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Counted:
    record: ReviewRecord
    step_complete: bool
    approved: bool  # every step is now satisfied


def _qualifies(approver: Approver, reviewer: Person, context: ReviewContext) -> bool:
    if approver.user is not None:
        return reviewer.is_named(approver.user)
    if approver.group is not None:
        return reviewer.in_group(approver.group)
    if approver.manager:
        return context.requester.manager_id is not None and reviewer.user_id == context.requester.manager_id
    return reviewer.user_id in context.owner_ids


def eligible_entries(step: ApprovalStep, reviewer: Person, context: ReviewContext) -> tuple[int, ...]:
    """Indexes of the step's approvers that `reviewer` qualifies as (empty: not an approver here)."""
    if reviewer.user_id == context.requester.user_id and not context.allow_self_approval:
        return ()
    return tuple(i for i, a in enumerate(step.approvers) if _qualifies(a, reviewer, context))


def step_satisfied(step: ApprovalStep, records: Sequence[ReviewRecord]) -> bool:
    """anyOf: `required` different qualified reviewers. allOf: every approver filled by a different
    reviewer (a group approver by `required` different members): a bipartite matching."""
    by_reviewer: dict[str, set[int]] = {}
    for record in records:
        if record.entries:
            by_reviewer.setdefault(record.reviewer_id, set()).update(record.entries)
    if step.any_of is not None:
        return len(by_reviewer) >= step.required
    slots: list[int] = []
    for index, approver in enumerate(step.approvers):
        slots.extend([index] * (step.required if approver.group is not None else 1))
    holder: dict[int, str] = {}  # slot → reviewer

    def assign(reviewer: str, seen: set[int]) -> bool:
        for slot, entry in enumerate(slots):
            if entry in by_reviewer[reviewer] and slot not in seen:
                seen.add(slot)
                if slot not in holder or assign(holder[slot], seen):
                    holder[slot] = reviewer
                    return True
        return False

    for reviewer in by_reviewer:
        assign(reviewer, set())
    return len(holder) == len(slots)


def record_review(
    steps: Sequence[ApprovalStep],
    current_step: int,
    approvals: Sequence[ReviewRecord],
    reviewer: Person,
    context: ReviewContext,
) -> Refused | Counted:
    """Decide what an approval by `reviewer` does to a pending request at `current_step`."""
    if current_step >= len(steps):
        return Refused("the request has no approval step left")
    if reviewer.user_id == context.requester.user_id and not context.allow_self_approval:
        return Refused("requesters cannot approve their own request; ask another approver")
    if not reviewer.active:
        return Refused(f"reviewer {reviewer.user_id} is deactivated")
    earlier = next((r for r in approvals if r.reviewer_id == reviewer.user_id), None)
    if earlier is not None:
        return Refused(
            f"{reviewer.email or reviewer.user_id} already approved step {earlier.step + 1}; "
            "each approval must come from a different person"
        )
    step = steps[current_step]
    entries = eligible_entries(step, reviewer, context)
    if not entries:
        shared = reviewer.ambiguous(a.group for a in step.approvers if a.group is not None)
        return Refused(
            f"{reviewer.email or reviewer.user_id} is not an approver for {step.describe(current_step)}"
            + ambiguity_note(shared)
        )
    record = ReviewRecord(current_step, reviewer.user_id, entries)
    in_step = [r for r in approvals if r.step == current_step] + [record]
    complete = step_satisfied(step, in_step)
    return Counted(record, complete, complete and current_step + 1 == len(steps))


@dataclass
class ReviewerChanges:
    """What a batch of identity or inventory events changes, as far as who may review goes."""

    users: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)  # lower-cased
    groups: set[str] = field(default_factory=set)  # ids and names
    resources: set[tuple[str, str]] = field(default_factory=set)  # (integration id, resource id)

    def __bool__(self) -> bool:
        return bool(self.users or self.groups or self.resources)


def may_change_reviewers(
    step: ApprovalStep,
    requester: Person,
    owners: frozenset[str],
    resource: tuple[str, str],
    changes: ReviewerChanges,
) -> bool:
    """Whether `changes` may change who may review `step`: it names a changed person (by id, or by an
    email in `changes.emails`: the changed people's emails before and after), a group in
    `changes.groups` (the changed groups, and the groups of the changed people), the requester's
    manager when the requester or the manager changed, or the resource's owners when the resource or
    one of them changed. False means the step's reviewers are certainly the same after the changes."""
    for approver in step.approvers:
        if approver.user is not None and (
            approver.user in changes.users or approver.user.lower() in changes.emails
        ):
            return True
        if approver.group is not None and approver.group in changes.groups:
            return True
        if approver.manager and (requester.user_id in changes.users or requester.manager_id in changes.users):
            return True
        if approver.owner and (resource in changes.resources or not changes.users.isdisjoint(owners)):
            return True
    return False
