"""Who had what access, when, approved by whom: one record per request, rebuilt from the events of
`access.lifecycle.v1` alone (no database, no other topic).

`AccessLedger.add(event)` takes the events in topic order (within a request's key the log order is the
causal order); `records()` gives one `AccessRecord` per request. A story whose start is missing (the
topic's retention ended it) is kept, marked `complete=False`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from .envelope import Event
from .lifecycle import (
    CredentialRotated,
    GrantActivated,
    GrantExtended,
    GrantExtensionDenied,
    GrantFailed,
    GrantRevoked,
    GrantRevokeOverdue,
    GrantRevoking,
    RequestApproved,
    RequestCancelled,
    RequestCreated,
    RequestDenied,
    RequestExpired,
    RequestRejected,
    ReviewRecorded,
    ReviewRequested,
)

OUTCOMES = (
    "pending",
    "granting",
    "active",
    "revoking",
    "revoke_overdue",
    "revoked",
    "denied",
    "rejected",
    "cancelled",
    "expired",
    "failed",
)
"""Where a request's story stands; the last six are final."""

FINAL_TYPES = frozenset(
    {
        "access.request.rejected",
        "access.request.denied",
        "access.request.cancelled",
        "access.request.expired",
        "access.grant.failed",
        "access.grant.revoked",
    }
)
"""Lifecycle event types after which a request's story has ended."""

OPEN = ("pending", "granting", "active", "revoking", "revoke_overdue")
"""Outcomes of a story that has not ended."""

HELD_ACCESS = ("active", "revoking", "revoke_overdue")
"""Outcomes in which the access may still work on the target."""


@dataclass
class AccessRecord:
    """One request's story, summed up."""

    request_id: str
    outcome: str = "pending"
    requester_id: str | None = None
    requester_email: str | None = None
    integration_id: str | None = None
    resource: str | None = None
    permission: str | None = None
    flow_name: str | None = None
    justification: str | None = None
    requested_at: datetime | None = None
    automatic: bool | None = None
    approver_ids: list[str] = field(default_factory=list)
    """Who approved the request (not its extensions: see `extended_by`)."""
    extended_by: list[str] = field(default_factory=list)
    activated_at: datetime | None = None
    expires_at: datetime | None = None
    """When the access was due to end (after every extension)."""
    ended_at: datetime | None = None
    """When the story reached its final outcome (for a grant: revocation confirmed)."""
    end_reason: str | None = None
    may_have_held: bool = False
    """A grant reported failed that may have changed the target before it failed (or was applied
    after all): what it applied was revoked to be sure (GrantRevoking reason "failed"), so the
    access may have worked until `ended_at` though it never was active."""
    credential_rotated: bool = False
    awaiting_step: str | None = None
    """The approval step open now (the request's, or its pending extension's), in words."""
    awaiting_reviewers: list[str] = field(default_factory=list)
    """User ids of who may review the open step (as flow-engine named them when it opened), less
    those whose approval has counted since."""
    awaiting_reviewer_emails: list[str] = field(default_factory=list)
    """Their emails, in the same order ("" where unknown)."""
    awaiting_until: datetime | None = None
    """When the open step lapses."""
    complete: bool = True
    """False when the story's start is missing (e.g. compacted or deleted from the topic)."""

    @property
    def held_for_seconds(self) -> float | None:
        """How long the access was in force: activation until confirmed revocation (None if never
        activated, or still held)."""
        if self.activated_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.activated_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """Every field (times as ISO text) and `held_for_seconds`: a JSON or CSV row."""
        row = {
            f.name: _iso(v) if isinstance(v := getattr(self, f.name), datetime) else v for f in fields(self)
        }
        row["held_for_seconds"] = self.held_for_seconds
        return row


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class AccessLedger:
    """Folds lifecycle events into one `AccessRecord` per request."""

    def __init__(self) -> None:
        self._records: dict[str, AccessRecord] = {}
        self._seen: set[Any] = set()

    def records(self) -> list[AccessRecord]:
        """Every request seen, in the order its story started."""
        return list(self._records.values())

    def add(self, event: Event) -> None:
        request_id = getattr(event, "request_id", None)
        if request_id is None:
            return
        if event.event_id in self._seen:  # a relay's at-least-once repeat
            return
        self._seen.add(event.event_id)
        record = self._records.get(request_id)
        if record is None:
            record = self._records[request_id] = AccessRecord(
                request_id, complete=isinstance(event, RequestCreated | RequestDenied | RequestRejected)
            )
        self._apply(record, event)

    def _apply(self, record: AccessRecord, event: Event) -> None:
        at = event.occurred_at
        match event:
            case RequestCreated():
                record.requester_id, record.requester_email = event.requester_id, event.requester_email
                record.integration_id, record.resource = event.integration_id, event.resource
                record.permission, record.flow_name = event.permission, event.flow_name
                record.justification, record.automatic = event.justification, event.automatic
                record.requested_at = at
            case RequestRejected():
                _asked(record, event.integration_id, event.resource, event.permission)
                record.requested_at = record.requested_at or at
                _end(record, "rejected", at, f"{event.code}: {event.reason}")
            case RequestDenied():
                record.requester_id = record.requester_id or event.requester_id
                _asked(record, event.integration_id, event.resource, event.permission)
                record.requested_at = record.requested_at or at
                by = f" (by {event.denied_by})" if event.denied_by else ""
                _end(record, "denied", at, event.reason + by)
            case ReviewRequested():
                prefix = "extension, " if event.extension else ""
                record.awaiting_step = prefix + event.step_description
                record.awaiting_reviewers = [r.user_id for r in event.reviewers]
                record.awaiting_reviewer_emails = [r.email or "" for r in event.reviewers]
                record.awaiting_until = event.approval_deadline
            case RequestApproved():
                _no_review_open(record)
                record.approver_ids = list(event.approver_ids)
                record.automatic = event.automatic
                record.outcome = "granting"
            case ReviewRecorded():
                # An extension's reviewers count in `extended_by` once it is granted (GrantExtended
                # names them): one denied or lapsed later was never approved.
                _counted(record, event.reviewer_id, event.step_complete)
            case GrantActivated():
                record.activated_at, record.expires_at = at, event.expires_at
                record.outcome = "active"
            case GrantExtensionDenied():
                _no_review_open(record)
            case GrantExtended():
                _no_review_open(record)
                record.expires_at = event.expires_at
                for approver in event.approver_ids:
                    if approver not in record.extended_by:
                        record.extended_by.append(approver)
            case GrantRevoking():
                if record.outcome != "revoke_overdue":
                    record.outcome = "revoking"
                record.ended_at = None  # open again, if a failure was reported before (a late grant)
                if event.reason == "failed":
                    record.may_have_held = True
                if event.reason != "retry":
                    record.end_reason = event.reason
            case GrantRevokeOverdue():
                record.outcome = "revoke_overdue"
            case GrantRevoked():
                _end(record, "revoked", at, event.reason)
            case GrantFailed():
                _end(record, "failed", at, event.reason)
            case RequestCancelled():
                _end(record, "cancelled", at, event.reason)
            case RequestExpired():
                _end(record, "expired", at, event.reason)
            case CredentialRotated():
                record.credential_rotated = True
            # The rest (reviews or actions refused, extensions asked or denied, grant requested, revoke
            # attempts failed) is part of the story, not of its summary.


def _asked(
    record: AccessRecord, integration_id: str | None, resource: str | None, permission: str | None
) -> None:
    record.integration_id = record.integration_id or integration_id
    record.resource = record.resource or resource
    record.permission = record.permission or permission


def _no_review_open(record: AccessRecord) -> None:
    record.awaiting_step, record.awaiting_until = None, None
    record.awaiting_reviewers, record.awaiting_reviewer_emails = [], []


def _counted(record: AccessRecord, reviewer_id: str, step_complete: bool) -> None:
    """A review counted: its reviewer cannot count again; a completed step is no longer open (the next
    step's ReviewRequested follows)."""
    if step_complete:
        _no_review_open(record)
    elif reviewer_id in record.awaiting_reviewers:
        at = record.awaiting_reviewers.index(reviewer_id)
        record.awaiting_reviewers.pop(at)
        if at < len(record.awaiting_reviewer_emails):
            record.awaiting_reviewer_emails.pop(at)


def _end(record: AccessRecord, outcome: str, at: datetime, reason: str | None) -> None:
    _no_review_open(record)
    record.outcome, record.ended_at = outcome, at
    if reason is not None:
        record.end_reason = reason
