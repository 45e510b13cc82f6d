"""What happened to each access request and its grant, as flow-engine records it on
`access.lifecycle.v1` (keyed by request id). This topic alone tells the whole story of an access.

A request has at most one grant, so the grant is identified by the request id.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from .envelope import Event, Identifier, UtcDatetime

Reason = Annotated[str, Field(max_length=2_000)]


class RequestCreated(Event):
    """A valid request matched an Access Flow and was recorded."""

    type: Literal["access.request.created"] = "access.request.created"
    request_id: Identifier
    requester_id: Identifier
    requester_email: str | None = None
    integration_id: Identifier
    resource: str
    permission: str
    duration_seconds: int = Field(gt=0)
    justification: str | None = None
    flow_name: str
    automatic: bool
    approval_deadline: UtcDatetime | None = Field(
        default=None, description="When a pending request times out; None for automatic flows"
    )


class RequestRejected(Event):
    """A submitted request could not be accepted at all (invalid token, unknown user): it never
    existed. A refused action on a request that does exist is `ActionRefused`."""

    type: Literal["access.request.rejected"] = "access.request.rejected"
    request_id: Identifier
    code: str = Field(max_length=64, description="Machine-readable, e.g. invalid_token")
    reason: Reason
    # What was asked (the asker is not named: their token did not prove who they are). Absent from
    # events written before these fields existed.
    integration_id: str | None = Field(default=None, max_length=128)
    resource: str | None = Field(default=None, max_length=512)
    permission: str | None = Field(default=None, max_length=128)


class ReviewRecorded(Event):
    """A reviewer's approval counted towards a step (of the request, or of its pending extension)."""

    type: Literal["access.review.recorded"] = "access.review.recorded"
    request_id: Identifier
    reviewer_id: Identifier
    step: int = Field(ge=0)
    step_complete: bool
    reason: str | None = None
    extension: bool = Field(
        default=False, description="True: it counted towards the grant's pending extension, not the request"
    )


class Reviewer(BaseModel):
    """Someone who may review a step: their identity-sync user id and email."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    user_id: Identifier
    email: str | None = Field(default=None, max_length=320)


MAX_REVIEWERS = 500
"""Reviewers a ReviewRequested names at most (a step open to a very large group names the first)."""


class ReviewRequested(Event):
    """A step of a request's approval, or of its pending extension, is open: who may review it now.

    `reviewers` are the people who qualified for the step when it opened: named users, members of its
    groups, the requester's manager, the resource's owners; active ones only, never the requester
    unless the flow allows self-approval, and no one whose approval already counted. It tells people
    what waits for them (`latchkey-access reviews`, notifications); it grants nothing: a review is
    checked again, against the identities of that moment, when it arrives.

    While the step is open, a change of who qualifies (a group's members, a person's email, manager or
    active flag, a resource's owners) announces the step again with `update` set: the latest
    ReviewRequested of an open step is its list."""

    type: Literal["access.review.requested"] = "access.review.requested"
    request_id: Identifier
    step: int = Field(ge=0, description="Index of the open step (0: the first)")
    step_description: str = Field(
        max_length=2_000, description="The step in words, e.g. 'step 1: any of group sre'"
    )
    extension: bool = Field(default=False, description="True: the step is the pending extension's")
    reviewers: list[Reviewer] = Field(default_factory=list, max_length=MAX_REVIEWERS)
    reviewers_truncated: bool = Field(
        default=False, description=f"More people qualify than the first {MAX_REVIEWERS} named here"
    )
    approval_deadline: UtcDatetime | None = Field(
        default=None, description="The step lapses if not approved by then"
    )
    update: bool = Field(
        default=False,
        description="True: the step was announced before and who qualifies changed; this list replaces it",
    )


class ReviewRefused(Event):
    """A review was not counted (not an eligible approver, self-approval, request not pending)."""

    type: Literal["access.review.refused"] = "access.review.refused"
    request_id: Identifier
    reviewer_id: Identifier | None = None
    reason: Reason


class ActionRefused(Event):
    """An action on an existing request was not carried out: a cancel, an extension or an early
    revoke (by the wrong person, in the wrong state, against the flow); the request is unchanged.
    `actor_id` is who asked (None when the token named nobody). Refused reviews are `ReviewRefused`."""

    type: Literal["access.action.refused"] = "access.action.refused"
    request_id: Identifier
    action: Literal["access.cancel.requested", "access.extension.requested", "access.revoke.requested"]
    actor_id: Identifier | None = None
    code: str = Field(max_length=64, description="Machine-readable, e.g. not_allowed, invalid_state")
    reason: Reason


class RequestApproved(Event):
    """Every approval step is satisfied (or the flow is automatic)."""

    type: Literal["access.request.approved"] = "access.request.approved"
    request_id: Identifier
    approver_ids: list[Identifier] = Field(default_factory=list)
    automatic: bool = False


class RequestDenied(Event):
    """The request will not be granted; `reason` says what the requester can do about it."""

    type: Literal["access.request.denied"] = "access.request.denied"
    request_id: Identifier
    reason: Reason
    denied_by: Identifier | None = None
    # Set when the request is denied as it is submitted (no Access Flow allows it), so the story
    # still says who asked for what; a later denial follows its RequestCreated, which says it.
    requester_id: Identifier | None = None
    integration_id: str | None = Field(default=None, max_length=128)
    resource: str | None = Field(default=None, max_length=512)
    permission: str | None = Field(default=None, max_length=128)


class RequestCancelled(Event):
    type: Literal["access.request.cancelled"] = "access.request.cancelled"
    request_id: Identifier
    reason: Reason | None = None


class RequestExpired(Event):
    """Nobody approved in time."""

    type: Literal["access.request.expired"] = "access.request.expired"
    request_id: Identifier
    reason: Reason | None = None


class GrantRequested(Event):
    """A signed grant command went to the connector (state: granting)."""

    type: Literal["access.grant.requested"] = "access.grant.requested"
    request_id: Identifier
    connector_id: Identifier
    command_id: Identifier
    attempt: int = Field(ge=1)


class GrantActivated(Event):
    """The connector confirmed the grant; access is live until `expires_at`."""

    type: Literal["access.grant.activated"] = "access.grant.activated"
    request_id: Identifier
    requester_id: Identifier
    connector_id: Identifier
    integration_id: Identifier
    expires_at: UtcDatetime
    sealed_credentials: str | None = Field(
        default=None, description="Credentials sealed to the requester's X25519 key (base64)"
    )


class GrantExtended(Event):
    """The grant now ends at `expires_at`: at once, or after every approval step of the extension."""

    type: Literal["access.grant.extended"] = "access.grant.extended"
    request_id: Identifier
    expires_at: UtcDatetime
    approver_ids: list[Identifier] = Field(
        default_factory=list, description="Who approved the extension; empty when the flow needs no approval"
    )


class GrantExtensionRequested(Event):
    """The requester asked for more time on an active grant whose flow requires approval for that.

    The grant stays active until `expires_at`; reviews now count towards the extension, whose steps
    are `steps`. Exactly one GrantExtended or GrantExtensionDenied follows."""

    type: Literal["access.grant.extension_requested"] = "access.grant.extension_requested"
    request_id: Identifier
    requested_by: Identifier
    extra_seconds: int = Field(gt=0, description="Added to the grant if approved (within extension.maxTotal)")
    expires_at: UtcDatetime = Field(description="When the grant ends if the extension is not approved")
    approval_deadline: UtcDatetime = Field(description="The extension lapses if not approved by then")
    steps: list[str] = Field(default_factory=list, description="The approval steps, in order, in words")
    justification: str | None = Field(default=None, max_length=2_000)


class GrantExtensionDenied(Event):
    """A pending extension will not be granted (a reviewer denied it, it timed out, or the grant ended).

    The grant itself is unchanged: still active until its current end, or already being revoked."""

    type: Literal["access.grant.extension_denied"] = "access.grant.extension_denied"
    request_id: Identifier
    reason: Reason
    denied_by: Identifier | None = None


class GrantRevoking(Event):
    """A signed revoke command went out; it must be confirmed by `confirm_by`.

    `reason` "failed": the grant failed after it may have changed the target, so whatever it applied
    is revoked; `detail` says why it failed, and GrantFailed (not GrantRevoked) ends the story once
    the revoke is confirmed."""

    type: Literal["access.grant.revoking"] = "access.grant.revoking"
    request_id: Identifier
    connector_id: Identifier
    command_id: Identifier
    attempt: int = Field(ge=1)
    reason: Literal["expired", "requested", "deactivated", "retry", "failed"]
    confirm_by: UtcDatetime
    detail: Reason | None = Field(default=None, description="For reason `failed`: why the grant failed")


class GrantRevoked(Event):
    """The connector confirmed that the access is gone."""

    type: Literal["access.grant.revoked"] = "access.grant.revoked"
    request_id: Identifier
    reason: str


class GrantRevokeFailed(Event):
    """A revoke attempt failed; expiry schedules the next attempt."""

    type: Literal["access.grant.revoke_failed"] = "access.grant.revoke_failed"
    request_id: Identifier
    attempt: int = Field(ge=1)
    reason: Reason


class GrantRevokeOverdue(Event):
    """Revocation could not be confirmed after many attempts: operators must look. Retries go on."""

    type: Literal["access.grant.revoke_overdue"] = "access.grant.revoke_overdue"
    request_id: Identifier
    attempts: int = Field(ge=1)
    reason: Reason


class GrantFailed(Event):
    """The grant could not be applied; the request ends here. When the failure may have left access
    behind, it follows GrantRevoking (reason "failed") and the connector's confirmation of that revoke."""

    type: Literal["access.grant.failed"] = "access.grant.failed"
    request_id: Identifier
    reason: Reason


class CredentialRotated(Event):
    type: Literal["access.credential.rotated"] = "access.credential.rotated"
    request_id: Identifier


LifecycleEvent = Annotated[
    RequestCreated
    | RequestRejected
    | ReviewRequested
    | ReviewRecorded
    | ReviewRefused
    | ActionRefused
    | RequestApproved
    | RequestDenied
    | RequestCancelled
    | RequestExpired
    | GrantRequested
    | GrantActivated
    | GrantExtended
    | GrantExtensionRequested
    | GrantExtensionDenied
    | GrantRevoking
    | GrantRevoked
    | GrantRevokeFailed
    | GrantRevokeOverdue
    | GrantFailed
    | CredentialRotated,
    Field(discriminator="type"),
]
