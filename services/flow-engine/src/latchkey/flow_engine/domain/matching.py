"""Does a request fit an Access Flow? If not, say why in words the requester can act on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .flow import AccessFlow, ApprovalStep, FlowSpec, Justification, OutsideSchedule
from .identity import Person, Resource, ambiguity_note


@dataclass(frozen=True)
class AccessAsk:
    """What the requester asked for (resource by id or name)."""

    integration_id: str
    resource: str
    permission: str
    duration_seconds: int | None
    justification: str | None
    at: datetime


@dataclass(frozen=True)
class Match:
    flow: AccessFlow
    duration_seconds: int
    steps: tuple[ApprovalStep, ...]

    @property
    def automatic(self) -> bool:
        return not self.steps


@dataclass(frozen=True)
class NoMatch:
    reason: str


def clamp_duration(requested: int | None, spec: FlowSpec) -> int:
    """The grant's duration: what was asked (or the flow's default), never beyond the flow's maximum."""
    wanted = spec.default_duration if requested is None or requested <= 0 else requested
    return max(1, min(wanted, spec.max_duration))


def may_request(flow: AccessFlow, person: Person) -> bool:
    who = flow.spec.requesters
    return any(person.is_named(u) for u in who.users) or any(person.in_group(g) for g in who.groups)


def covers_resource(flow: AccessFlow, resource: Resource) -> bool:
    access = flow.spec.access
    return access.integration == resource.integration_id and any(
        s.matches(resource.name, resource.resource_id, resource.resource_type, resource.tags)
        for s in access.resources
    )


@dataclass(frozen=True)
class FlowRefusal:
    """A flow rule that refuses an ask at this moment (`code` machine-readable, `reason` for people)."""

    code: str
    reason: str


def approval_steps(
    flow: AccessFlow, justification: str | None, at: datetime
) -> tuple[ApprovalStep, ...] | FlowRefusal:
    """The approval steps an ask under `flow` at `at` must pass (none: automatic), or the flow rule
    that refuses it: a missing required justification, or `outside: deny` outside the schedule."""
    spec = flow.spec
    if spec.justification is Justification.required and not (justification or "").strip():
        return FlowRefusal(
            "justification_required", f"flow {flow.name} requires a justification: add one and submit again"
        )
    steps = tuple(spec.approval.steps)
    if spec.schedule is not None and not spec.schedule.allows(at):
        if spec.schedule.outside is OutsideSchedule.deny:
            return FlowRefusal(
                "outside_schedule",
                f"flow {flow.name} takes requests only {spec.schedule.describe()}; submit again then",
            )
        assert spec.schedule.extra_step is not None  # enforced by Schedule's validator
        steps = (*steps, spec.schedule.extra_step)
    return steps


def _preference(match: Match) -> tuple[int, int, str]:
    # Fewest approvals first: a requester who may have access at once should not wait for a review.
    return (len(match.steps), -match.duration_seconds, match.flow.name)


def match_request(
    person: Person, ask: AccessAsk, resource: Resource | None, flows: Sequence[AccessFlow]
) -> Match | NoMatch:
    """The flow that lets `person` have `ask`, or the reason none does."""
    if not person.active:
        return NoMatch(f"user {person.email or person.user_id} is deactivated in the identity provider")
    if resource is None:
        return NoMatch(
            f"resource {ask.resource} is not in the inventory of integration {ask.integration_id}; "
            "check the name, or wait for the connector's next inventory sync"
        )
    label = resource.name
    if resource.permissions and ask.permission not in resource.permissions:
        return NoMatch(
            f"permission {ask.permission} does not exist on {label}; it offers: "
            f"{', '.join(sorted(resource.permissions))}"
        )
    on_resource = [f for f in flows if covers_resource(f, resource)]
    mine = [f for f in on_resource if may_request(f, person)]
    candidates = [f for f in mine if ask.permission in f.spec.access.permissions]
    if not candidates:
        others: dict[str, list[str]] = {}
        for flow in mine:
            for permission in flow.spec.access.permissions:
                others.setdefault(permission, []).append(flow.name)
        reason = f"no Access Flow lets {person.describe()} request {ask.permission} on {label}"
        if others:
            offers = "; ".join(f"{p}: {', '.join(sorted(n))}" for p, n in sorted(others.items()))
            reason += f"; flows that grant {offers}"
        elif on_resource:
            names = ", ".join(sorted(f.name for f in on_resource))
            reason += f"; flows for {label} ({names}) are for other people"
        else:
            reason += "; no flow covers this resource yet: ask an admin to add one"
        shared = person.ambiguous(g for f in on_resource for g in f.spec.requesters.groups)
        return NoMatch(reason + ambiguity_note(shared))
    found: list[Match] = []
    refusals: list[str] = []
    for flow in candidates:
        steps = approval_steps(flow, ask.justification, ask.at)
        if isinstance(steps, FlowRefusal):
            refusals.append(steps.reason)
            continue
        found.append(Match(flow, clamp_duration(ask.duration_seconds, flow.spec), steps))
    if not found:
        return NoMatch("; ".join(refusals))
    # A longer duration than the flow allows still matches: the grant is clamped to the flow's maximum
    # and RequestCreated carries the real duration.
    return min(found, key=_preference)
