"""The access request and its grant: one persistent state machine per request id.

    pending → approved → granting → active → revoking → revoked
    pending → denied | cancelled | expired;  approved/granting → failed;  revoking → revoke_overdue
    granting → revoking → failed: the grant failed after it may have changed the target, so what it
    applied is revoked first (GrantRevoking reason "failed"); the confirmation ends it in GrantFailed
    (also when the connector reports applied a grant that had already failed: `undo_late_grant`)

An active grant may carry one pending extension that passes the flow's approval steps like a new
request while the grant stays active; it ends in GrantExtended or GrantExtensionDenied.

Every method checks the transition first (IllegalTransition: refused, nothing changes) and returns
the lifecycle events that record it; the caller persists the new state and the events together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from latchkey.contracts import (
    CommandApplied,
    CommandFailed,
    CredentialRotated,
    Event,
    GrantActivated,
    GrantCommand,
    GrantExtended,
    GrantExtensionDenied,
    GrantExtensionRequested,
    GrantFailed,
    GrantRequested,
    GrantRevoked,
    GrantRevokeFailed,
    GrantRevokeOverdue,
    GrantRevoking,
    Principal,
    RequestApproved,
    RequestCancelled,
    RequestCreated,
    RequestDenied,
    RequestExpired,
    ReviewRecorded,
    RevokeCommand,
    uuid7,
)

from .approval import Counted, ReviewRecord
from .flow import AccessFlow, ApprovalStep, format_duration
from .identity import Person, Resource, ambiguity_note
from .matching import FlowRefusal, Match, approval_steps, may_request


class GrantState(StrEnum):
    pending = "pending"
    approved = "approved"
    granting = "granting"
    active = "active"
    revoking = "revoking"
    revoked = "revoked"
    denied = "denied"
    cancelled = "cancelled"
    expired = "expired"
    failed = "failed"
    revoke_overdue = "revoke_overdue"


S = GrantState
TRANSITIONS: dict[GrantState, frozenset[GrantState]] = {
    S.pending: frozenset({S.approved, S.denied, S.cancelled, S.expired}),
    S.approved: frozenset({S.granting, S.failed}),
    S.granting: frozenset({S.active, S.failed, S.revoking}),
    S.active: frozenset({S.revoking}),
    # a retry is a new revoke attempt in the same state; a failed grant's revoke ends in failed
    S.revoking: frozenset({S.revoking, S.revoked, S.revoke_overdue, S.failed}),
    S.revoke_overdue: frozenset({S.revoke_overdue, S.revoked, S.failed}),
    S.revoked: frozenset(),
    S.denied: frozenset(),
    S.cancelled: frozenset(),
    S.expired: frozenset(),
    S.failed: frozenset(),
}
FINAL: frozenset[GrantState] = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
REVOCABLE: frozenset[GrantState] = frozenset({S.revoking, S.revoke_overdue})

UNSURE_FAILURES = frozenset({"target_error", "timeout", "internal_error"})
"""Failure codes after which a connector that does not say `may_have_applied` (one older than that
field) may have changed the target: the integration ran. Refusals (bad_signature, expired, replayed,
unknown_template, ...) and secret_unavailable come before any change."""


REASON_LIMIT = 2_000
"""The longest reason a lifecycle event carries (contracts.lifecycle.Reason)."""


def clip(text: str, room: int = REASON_LIMIT) -> str:
    """`text` cut to `room` characters (a connector's reason may already fill a whole event's)."""
    return text if len(text) <= room else text[: room - 1] + "…"


def may_have_applied(failed: CommandFailed) -> bool:
    """Whether a failed grant may have left access behind on the target, so it must be revoked."""
    if failed.may_have_applied is not None:
        return failed.may_have_applied
    return failed.code in UNSURE_FAILURES


class IllegalTransition(Exception):
    def __init__(self, request_id: str, current: GrantState, target: GrantState) -> None:
        super().__init__(f"request {request_id}: {current} → {target} is not allowed")
        self.current = current
        self.target = target


class Refusal(Exception):
    """A parseable ask that this request cannot honour (`code` machine-readable, message for people)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class CommandWindow:
    """How long a signed command stays valid, and how long a revoke may take to be confirmed."""

    validity_seconds: int = 300
    revoke_confirm_seconds: int = 120


@dataclass
class PendingExtension:
    """More time asked on an active grant whose flow requires approval for extensions: it passes
    `steps` (the flow's, as for a new request at the time it was asked) while the grant stays active."""

    extra_seconds: int
    deadline: datetime
    steps: list[ApprovalStep]
    current_step: int = 0
    approvals: list[ReviewRecord] = field(default_factory=list)


@dataclass(frozen=True)
class Ballot:
    """What a review counts towards now: the request's steps while it is pending, or the pending
    extension's while the grant is active (`extension`)."""

    steps: Sequence[ApprovalStep]
    current_step: int
    approvals: Sequence[ReviewRecord]
    extension: bool


@dataclass
class AccessRequest:
    request_id: str
    state: GrantState
    requester_id: str
    requester_email: str | None
    integration_id: str
    connector_id: str
    resource_id: str
    resource_name: str
    permission: str
    duration_seconds: int
    justification: str | None
    flow_name: str
    flow_document: dict[str, Any]
    flow_digest: str
    steps: list[ApprovalStep]
    created_at: datetime
    current_step: int = 0
    approvals: list[ReviewRecord] = field(default_factory=list)
    approval_deadline: datetime | None = None
    requester_public_key: str | None = None
    expires_at: datetime | None = None
    extended_seconds: int = 0
    revoke_attempt: int = 0
    revoke_reason: str | None = None
    last_command_id: str | None = None
    failure_reason: str | None = None
    """Why the grant failed, while what it may have applied is being revoked (revoke_reason "failed")."""
    pending_extension: PendingExtension | None = None
    producer: str = "flow-engine"
    _flow: AccessFlow | None = field(default=None, repr=False, compare=False)
    new: bool = field(default=False, repr=False, compare=False)
    """Created in this unit of work and not saved yet (the store inserts it rather than upserting)."""

    @property
    def flow(self) -> AccessFlow:
        """The flow as it was when the request was created: later flow changes apply to new requests."""
        if self._flow is None:
            self._flow = AccessFlow.model_validate(self.flow_document)
        return self._flow

    # -- transitions ------------------------------------------------------------------------------
    def _move(self, target: GrantState) -> None:
        if target not in TRANSITIONS[self.state]:
            raise IllegalTransition(self.request_id, self.state, target)
        self.state = target

    def _envelope(self, cause: Event) -> dict[str, Any]:
        return {"producer": self.producer, "correlation_id": self.request_id, "causation_id": cause.event_id}

    @classmethod
    def create(
        cls,
        *,
        request_id: str,
        requester: Person,
        resource: Resource,
        permission: str,
        justification: str | None,
        requester_public_key: str | None,
        match: Match,
        now: datetime,
        cause: Event,
        producer: str = "flow-engine",
    ) -> tuple[AccessRequest, list[Event]]:
        """A new request that fits `match`: pending, or approved at once for an automatic flow."""
        spec = match.flow.spec
        request = cls(
            request_id=request_id,
            state=S.pending,
            requester_id=requester.user_id,
            requester_email=requester.email,
            integration_id=resource.integration_id,
            connector_id=resource.connector_id,
            resource_id=resource.resource_id,
            resource_name=resource.name,
            permission=permission,
            duration_seconds=match.duration_seconds,
            justification=justification,
            flow_name=match.flow.name,
            flow_document=match.flow.shared_document(),
            flow_digest=match.flow.digest,
            steps=list(match.steps),
            created_at=now,
            approval_deadline=None if match.automatic else now + timedelta(seconds=spec.approval.timeout),
            requester_public_key=requester_public_key,
            producer=producer,
            _flow=match.flow,
            new=True,
        )
        events: list[Event] = [
            RequestCreated(
                request_id=request_id,
                requester_id=requester.user_id,
                requester_email=requester.email,
                integration_id=resource.integration_id,
                resource=resource.resource_id,
                permission=permission,
                duration_seconds=match.duration_seconds,
                justification=justification,
                flow_name=match.flow.name,
                automatic=match.automatic,
                approval_deadline=request.approval_deadline,
                **request._envelope(cause),
            )
        ]
        if match.automatic:
            request._move(S.approved)
            events.append(RequestApproved(request_id=request_id, automatic=True, **request._envelope(cause)))
        return request, events

    def ballot(self) -> Ballot | None:
        """What a review of this request would count towards; None: nothing is awaiting review."""
        if self.state is S.pending:
            return Ballot(self.steps, self.current_step, self.approvals, extension=False)
        extension = self.pending_extension
        if self.state is S.active and extension is not None:
            return Ballot(extension.steps, extension.current_step, extension.approvals, extension=True)
        return None

    def _recorded(self, outcome: Counted, reason: str | None, extension: bool, cause: Event) -> Event:
        return ReviewRecorded(
            request_id=self.request_id,
            reviewer_id=outcome.record.reviewer_id,
            step=outcome.record.step,
            step_complete=outcome.step_complete,
            reason=reason,
            extension=extension,
            **self._envelope(cause),
        )

    def count_review(self, outcome: Counted, reason: str | None, cause: Event) -> list[Event]:
        """Count an approval that `record_review` accepted against `ballot()` (request or extension)."""
        if self.state is S.active and self.pending_extension is not None:
            return self._count_extension_review(outcome, reason, cause)
        if self.state is not S.pending:
            raise IllegalTransition(self.request_id, self.state, S.approved)
        if outcome.approved:
            self._move(S.approved)
        self.approvals.append(outcome.record)
        events: list[Event] = [self._recorded(outcome, reason, False, cause)]
        if outcome.step_complete:
            self.current_step = outcome.record.step + 1
        if outcome.approved:
            approvers = list(dict.fromkeys(r.reviewer_id for r in self.approvals))
            events.append(
                RequestApproved(request_id=self.request_id, approver_ids=approvers, **self._envelope(cause))
            )
        return events

    def deny(self, reason: str, denied_by: str | None, cause: Event) -> list[Event]:
        self._move(S.denied)
        return [
            RequestDenied(
                request_id=self.request_id, reason=reason, denied_by=denied_by, **self._envelope(cause)
            )
        ]

    def cancel(self, reason: str | None, cause: Event) -> list[Event]:
        self._move(S.cancelled)
        return [RequestCancelled(request_id=self.request_id, reason=reason, **self._envelope(cause))]

    def expire(self, cause: Event) -> list[Event]:
        self._move(S.expired)
        reason = "no approval before the deadline; submit a new request or ask the approvers"
        return [RequestExpired(request_id=self.request_id, reason=reason, **self._envelope(cause))]

    def _principal(self) -> Principal:
        return Principal(user_id=self.requester_id, email=self.requester_email)

    def start_grant(
        self, now: datetime, window: CommandWindow, cause: Event
    ) -> tuple[GrantCommand, list[Event]]:
        """The (unsigned) grant command for the connector, and the event recording it went out."""
        self._move(S.granting)
        command = GrantCommand(
            command_id=str(uuid7()),
            grant_id=self.request_id,
            connector_id=self.connector_id,
            integration_id=self.integration_id,
            issued_at=now,
            not_after=now + timedelta(seconds=window.validity_seconds),
            attempt=1,
            template=self.permission,
            resource=self.resource_id,
            # The connector derives a template's parameters from the resource it inventoried; the
            # control plane names only the resource, so it cannot widen what a template touches.
            parameters={},
            principal=self._principal(),
            expires_at=now + timedelta(seconds=self.duration_seconds),
            requester_public_key=self.requester_public_key,
            **self._envelope(cause),
        )
        self.last_command_id = command.command_id
        event = GrantRequested(
            request_id=self.request_id,
            connector_id=self.connector_id,
            command_id=command.command_id,
            attempt=1,
            **self._envelope(cause),
        )
        return command, [event]

    def activate(self, applied: CommandApplied, now: datetime) -> list[Event]:
        self._move(S.active)
        self.expires_at = now + timedelta(seconds=self.duration_seconds)
        return [
            GrantActivated(
                request_id=self.request_id,
                requester_id=self.requester_id,
                connector_id=self.connector_id,
                integration_id=self.integration_id,
                expires_at=self.expires_at,
                sealed_credentials=applied.sealed_credentials,
                **self._envelope(applied),
            )
        ]

    def fail_grant(self, reason: str, cause: Event) -> list[Event]:
        """The grant failed before it changed anything on the target: the request ends here."""
        self._move(S.failed)
        return [GrantFailed(request_id=self.request_id, reason=clip(reason), **self._envelope(cause))]

    def undo_failed_grant(
        self, reason: str, now: datetime, window: CommandWindow, cause: Event
    ) -> tuple[RevokeCommand, list[Event]]:
        """The grant failed but may have changed the target (an operation applied before a later one
        failed, a call still running when the connector gave up): revoke whatever it applied, retried
        until confirmed like any revoke; the confirmation ends the request in GrantFailed."""
        if self.state is not S.granting:
            raise IllegalTransition(self.request_id, self.state, S.revoking)
        self.failure_reason = clip(reason)
        return self.start_revoke("failed", 1, now, window, cause)

    def undo_late_grant(
        self, now: datetime, window: CommandWindow, cause: Event
    ) -> tuple[RevokeCommand, list[Event]]:
        """The connector reports applied a grant this request already ended as failed (its failure
        came first: forged on the results topic, or by a connector that then ran the command after
        all). The access exists, so it is revoked like any failed grant that may have applied; the
        confirmation ends the request in GrantFailed once more."""
        if self.state is not S.failed:
            raise IllegalTransition(self.request_id, self.state, S.revoking)
        self.state = S.granting  # what failed did take effect: the only way out of `failed`
        reason = "the connector applied the grant after it had been reported failed"
        return self.undo_failed_grant(reason, now, window, cause)

    def start_revoke(
        self, reason: str, attempt: int, now: datetime, window: CommandWindow, cause: Event
    ) -> tuple[RevokeCommand, list[Event]]:
        """A revoke attempt: the (unsigned) command and GrantRevoking with its confirmation deadline."""
        if self.state is S.granting and reason != "failed":  # only a failed grant is undone unconfirmed
            raise IllegalTransition(self.request_id, self.state, S.revoking)
        self._move(S.revoke_overdue if self.state is S.revoke_overdue else S.revoking)
        if reason != "retry":
            self.revoke_reason = reason
        self.revoke_attempt = attempt
        command = RevokeCommand(
            command_id=str(uuid7()),
            grant_id=self.request_id,
            connector_id=self.connector_id,
            integration_id=self.integration_id,
            issued_at=now,
            not_after=now + timedelta(seconds=window.validity_seconds),
            attempt=attempt,
            template=self.permission,
            resource=self.resource_id,
            # The connector derives a template's parameters from the resource it inventoried; the
            # control plane names only the resource, so it cannot widen what a template touches.
            parameters={},
            principal=self._principal(),
            rotate_credentials=self.flow.spec.credentials.rotate_after_revoke,
            **self._envelope(cause),
        )
        self.last_command_id = command.command_id
        events: list[Event] = [
            GrantRevoking(
                request_id=self.request_id,
                connector_id=self.connector_id,
                command_id=command.command_id,
                attempt=attempt,
                reason=reason,
                confirm_by=now + timedelta(seconds=window.revoke_confirm_seconds),
                detail=self.failure_reason if self.revoke_reason == "failed" else None,
                **self._envelope(cause),
            )
        ]
        if self.pending_extension is not None:
            events += self._drop_extension(
                f"the grant is being revoked ({reason}) before the extension was approved", None, cause
            )
        return command, events

    def confirm_revoked(self, applied: CommandApplied) -> list[Event]:
        events: list[Event]
        if self.revoke_reason == "failed":  # a failed grant's leftovers are gone: now it has failed
            self._move(S.failed)
            done = "; what it may have applied is revoked"
            reason = clip(self.failure_reason or "the grant failed", REASON_LIMIT - len(done)) + done
            events = [GrantFailed(request_id=self.request_id, reason=reason, **self._envelope(applied))]
        else:
            self._move(S.revoked)
            events = [
                GrantRevoked(
                    request_id=self.request_id,
                    reason=self.revoke_reason or "revoked",
                    **self._envelope(applied),
                )
            ]
        if applied.credential_rotated:
            events.append(CredentialRotated(request_id=self.request_id, **self._envelope(applied)))
        return events

    def revoke_failed(self, failed: CommandFailed) -> list[Event]:
        """A failed attempt is handed to expiry's retry schedule; a stale attempt's failure is ignored."""
        if self.state not in REVOCABLE or failed.attempt != self.revoke_attempt:
            return []
        return [
            GrantRevokeFailed(
                request_id=self.request_id,
                attempt=failed.attempt,
                reason=clip(f"{failed.code}: {failed.reason}"),
                **self._envelope(failed),
            )
        ]

    def mark_overdue(self, attempts: int, cause: Event) -> list[Event]:
        self._move(S.revoke_overdue)
        reason = f"revocation not confirmed after {attempts} attempts; retries continue, check the connector"
        return [
            GrantRevokeOverdue(
                request_id=self.request_id, attempts=attempts, reason=reason, **self._envelope(cause)
            )
        ]

    def extend(
        self,
        extra_seconds: int,
        *,
        justification: str | None,
        requester: Person,
        now: datetime,
        cause: Event,
    ) -> list[Event]:
        """Keep an active grant longer, within the extension policy of the request's flow: at once
        (GrantExtended), or, when the flow requires approval, as a pending extension that passes the
        flow's approval steps like a new request (GrantExtensionRequested). Refusal otherwise."""
        if self.state is not S.active or self.expires_at is None:
            raise Refusal("invalid_state", f"only an active grant can be extended; this one is {self.state}")
        flow = self.flow
        policy = flow.spec.extension
        if not policy.allowed:
            raise Refusal("extension_not_allowed", f"flow {self.flow_name} does not allow extensions")
        if not (requester.active and may_request(flow, requester)):
            raise Refusal(
                "not_allowed",
                f"{requester.describe()} may no longer request access under flow {self.flow_name}, "
                "so the grant cannot be extended; ask an admin"
                + ambiguity_note(requester.ambiguous(flow.spec.requesters.groups)),
            )
        pending = self.pending_extension
        if pending is not None:
            raise Refusal(
                "extension_pending",
                f"an extension of {format_duration(pending.extra_seconds)} is already waiting for approval "
                f"({pending.steps[pending.current_step].describe(pending.current_step)}); "
                "wait for its decision before asking again",
            )
        allowance = (policy.max_total if policy.max_total is not None else flow.spec.max_duration) - (
            self.extended_seconds
        )
        granted = min(extra_seconds, allowance)
        if granted <= 0:
            raise Refusal(
                "extension_limit",
                f"this grant has used its extension allowance of {format_duration(self.extended_seconds)}",
            )
        if not policy.requires_approval:
            return self._lengthen(granted, [], cause)
        if self.expires_at <= now:
            raise Refusal("invalid_state", "this grant has reached its end; submit a new request")
        steps = approval_steps(flow, justification, now)
        if isinstance(steps, FlowRefusal):
            raise Refusal(steps.code, steps.reason)
        if not steps:
            raise Refusal(
                "extension_needs_approval",
                f"flow {self.flow_name} requires approval for extensions but has no approval steps; "
                "ask an admin to add a step or to set extension.requiresApproval: false",
            )
        deadline = min(now + timedelta(seconds=flow.spec.approval.timeout), self.expires_at)
        self.pending_extension = PendingExtension(granted, deadline, list(steps))
        return [
            GrantExtensionRequested(
                request_id=self.request_id,
                requested_by=requester.user_id,
                extra_seconds=granted,
                expires_at=self.expires_at,
                approval_deadline=deadline,
                steps=[step.describe(index) for index, step in enumerate(steps)],
                justification=justification,
                **self._envelope(cause),
            )
        ]

    def _lengthen(self, seconds: int, approver_ids: list[str], cause: Event) -> list[Event]:
        assert self.expires_at is not None  # only an active grant is extended
        self.extended_seconds += seconds
        self.expires_at = self.expires_at + timedelta(seconds=seconds)
        return [
            GrantExtended(
                request_id=self.request_id,
                expires_at=self.expires_at,
                approver_ids=approver_ids,
                **self._envelope(cause),
            )
        ]

    def _count_extension_review(self, outcome: Counted, reason: str | None, cause: Event) -> list[Event]:
        extension = self.pending_extension
        assert extension is not None
        extension.approvals.append(outcome.record)
        events: list[Event] = [self._recorded(outcome, reason, True, cause)]
        if outcome.step_complete:
            extension.current_step = outcome.record.step + 1
        if outcome.approved:
            self.pending_extension = None
            approvers = list(dict.fromkeys(r.reviewer_id for r in extension.approvals))
            events += self._lengthen(extension.extra_seconds, approvers, cause)
        return events

    def deny_extension(self, reason: str, denied_by: str | None, cause: Event) -> list[Event]:
        """A reviewer denied the pending extension: it is dropped, the grant ends when it would have."""
        if self.state is not S.active or self.pending_extension is None:
            raise Refusal("invalid_state", "there is no extension waiting for approval")
        return self._drop_extension(reason, denied_by, cause)

    def lapse_extension(self, due_at: datetime, cause: Event) -> list[Event]:
        """The approval deadline of the pending extension passed (a timer of an earlier one: nothing)."""
        extension = self.pending_extension
        if self.state is not S.active or extension is None:
            return []
        if abs((extension.deadline - due_at).total_seconds()) > 1:
            return []
        assert self.expires_at is not None
        return self._drop_extension(
            f"no approval of the extension by {_utc(extension.deadline)}; the grant still ends at "
            f"{_utc(self.expires_at)}; ask again or ask the approvers",
            None,
            cause,
        )

    def _drop_extension(self, reason: str, denied_by: str | None, cause: Event) -> list[Event]:
        self.pending_extension = None
        return [
            GrantExtensionDenied(
                request_id=self.request_id, reason=reason, denied_by=denied_by, **self._envelope(cause)
            )
        ]


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
