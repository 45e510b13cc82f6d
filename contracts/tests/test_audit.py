"""The audit ledger: one record per request from lifecycle events alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from latchkey.contracts import (
    LIFECYCLE,
    CredentialRotated,
    GrantActivated,
    GrantExtended,
    GrantExtensionDenied,
    GrantExtensionRequested,
    GrantFailed,
    GrantRequested,
    GrantRevoked,
    GrantRevokeFailed,
    GrantRevokeOverdue,
    GrantRevoking,
    RequestApproved,
    RequestCreated,
    RequestDenied,
    RequestRejected,
    Reviewer,
    ReviewRecorded,
    ReviewRequested,
)
from latchkey.contracts.audit import AccessLedger

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def created(request_id: str, requester: str = "u-bob", automatic: bool = True) -> RequestCreated:
    return RequestCreated(
        request_id=request_id,
        requester_id=requester,
        requester_email=f"{requester[2:]}@example.com",
        integration_id="appdb",
        resource="schema:appdb.public",
        permission="readonly",
        duration_seconds=3600,
        justification="ticket 4711",
        flow_name="appdb-readonly",
        automatic=automatic,
        occurred_at=at(0),
    )


def fold(*events: object) -> AccessLedger:
    ledger = AccessLedger()
    for event in events:
        # through JSON, as an auditor reads them off the topic
        ledger.add(LIFECYCLE.parse(event.model_dump_json()))  # type: ignore[attr-defined]
    return ledger


def test_a_reviewed_grant_that_was_extended_revoked_and_rotated() -> None:
    end = at(3600 + 1800)
    ledger = fold(
        created("r1", automatic=False),
        ReviewRecorded(
            request_id="r1", reviewer_id="u-carol", step=0, step_complete=True, occurred_at=at(60)
        ),
        RequestApproved(request_id="r1", approver_ids=["u-carol", "u-alice"], occurred_at=at(120)),
        GrantRequested(request_id="r1", connector_id="c", command_id="k1", attempt=1, occurred_at=at(120)),
        GrantActivated(
            request_id="r1",
            requester_id="u-bob",
            connector_id="c",
            integration_id="appdb",
            expires_at=at(3720),
            sealed_credentials="c2VhbGVk",
            occurred_at=at(121),
        ),
        ReviewRecorded(
            request_id="r1",
            reviewer_id="u-dave",
            step=0,
            step_complete=True,
            extension=True,
            occurred_at=at(900),
        ),
        GrantExtended(request_id="r1", expires_at=end, approver_ids=["u-dave"], occurred_at=at(900)),
        GrantRevoking(
            request_id="r1", connector_id="c", command_id="k2", attempt=1, reason="expired", confirm_by=end
        ),
        GrantRevokeFailed(request_id="r1", attempt=1, reason="target down", occurred_at=end),
        GrantRevoking(
            request_id="r1", connector_id="c", command_id="k3", attempt=2, reason="retry", confirm_by=end
        ),
        GrantRevoked(request_id="r1", reason="expired", occurred_at=end + timedelta(seconds=30)),
        CredentialRotated(request_id="r1", occurred_at=end + timedelta(seconds=31)),
    )
    [record] = ledger.records()
    assert record.outcome == "revoked" and record.end_reason == "expired"
    assert (record.requester_id, record.requester_email) == ("u-bob", "bob@example.com")
    assert (record.integration_id, record.resource, record.permission) == (
        "appdb",
        "schema:appdb.public",
        "readonly",
    )
    assert record.approver_ids == ["u-carol", "u-alice"] and record.automatic is False
    assert record.extended_by == ["u-dave"]
    assert record.activated_at == at(121) and record.expires_at == end
    assert record.held_for_seconds == (end + timedelta(seconds=30) - at(121)).total_seconds()
    assert record.credential_rotated and record.complete
    assert "c2VhbGVk" not in str(record.as_dict()), "the sealed credentials are not part of the record"


def test_denied_at_submission_still_says_who_asked_for_what() -> None:
    ledger = fold(
        RequestDenied(
            request_id="r2",
            reason="no Access Flow lets u-bob request superuser on appdb",
            requester_id="u-bob",
            integration_id="appdb",
            resource="schema:appdb.public",
            permission="superuser",
            occurred_at=at(5),
        ),
        RequestRejected(
            request_id="r3", code="invalid_token", reason="expired", permission="readonly", occurred_at=at(6)
        ),
    )
    denied, rejected = ledger.records()
    assert (denied.outcome, denied.requester_id, denied.permission) == ("denied", "u-bob", "superuser")
    assert denied.requested_at == denied.ended_at == at(5) and denied.activated_at is None
    assert rejected.outcome == "rejected" and rejected.requester_id is None
    assert rejected.end_reason == "invalid_token: expired" and rejected.permission == "readonly"


def test_an_overdue_revocation_stays_visible_until_confirmed() -> None:
    ledger = fold(
        created("r4"),
        RequestApproved(request_id="r4", automatic=True),
        GrantActivated(
            request_id="r4", requester_id="u-bob", connector_id="c", integration_id="appdb", expires_at=at(60)
        ),
        GrantRevoking(
            request_id="r4",
            connector_id="c",
            command_id="k",
            attempt=1,
            reason="requested",
            confirm_by=at(70),
        ),
        GrantRevokeOverdue(request_id="r4", attempts=5, reason="connector unreachable"),
        GrantRevoking(
            request_id="r4", connector_id="c", command_id="k", attempt=6, reason="retry", confirm_by=at(90)
        ),
    )
    [record] = ledger.records()
    assert record.outcome == "revoke_overdue" and record.ended_at is None and record.held_for_seconds is None
    assert record.end_reason == "requested"


def test_repeats_are_folded_once_and_a_story_without_its_start_is_marked() -> None:
    approved = RequestApproved(request_id="r5", approver_ids=["u-carol"])
    revoked = GrantRevoked(request_id="r6", reason="expired")
    ledger = fold(created("r5"), approved, approved, revoked)
    first, second = ledger.records()
    assert first.approver_ids == ["u-carol"] and first.outcome == "granting" and first.complete
    assert second.outcome == "revoked" and not second.complete and second.requester_id is None


def waiting(step: int, *who: str, extension: bool = False, seconds: float = 1) -> ReviewRequested:
    return ReviewRequested(
        request_id="r1",
        step=step,
        step_description=f"step {step + 1}: any of group sre",
        extension=extension,
        reviewers=[Reviewer(user_id=w, email=f"{w[2:]}@example.com") for w in who],
        approval_deadline=at(3600),
        occurred_at=at(seconds),
    )


def test_the_open_step_and_who_may_review_it_follow_the_reviews() -> None:
    ledger = fold(created("r1", automatic=False), waiting(0, "u-carol", "u-dave"))
    [record] = ledger.records()
    assert record.awaiting_step == "step 1: any of group sre" and record.awaiting_until == at(3600)
    assert record.awaiting_reviewers == ["u-carol", "u-dave"]
    assert record.awaiting_reviewer_emails == ["carol@example.com", "dave@example.com"]
    # carol's approval counts but the step needs two: she is no longer waited for, dave still is
    ledger = fold(
        created("r1", automatic=False),
        waiting(0, "u-carol", "u-dave"),
        ReviewRecorded(
            request_id="r1", reviewer_id="u-carol", step=0, step_complete=False, occurred_at=at(2)
        ),
    )
    [record] = ledger.records()
    assert (record.awaiting_reviewers, record.awaiting_reviewer_emails) == (["u-dave"], ["dave@example.com"])
    # the step completes, the next one opens with other reviewers; approval closes it
    steps = [
        created("r1", automatic=False),
        waiting(0, "u-carol"),
        ReviewRecorded(request_id="r1", reviewer_id="u-carol", step=0, step_complete=True, occurred_at=at(2)),
    ]
    [record] = fold(*steps).records()
    assert record.awaiting_step is None and record.awaiting_reviewers == []
    steps.append(waiting(1, "u-mgr", seconds=3))
    [record] = fold(*steps).records()
    assert (record.awaiting_step, record.awaiting_reviewers) == ("step 2: any of group sre", ["u-mgr"])
    steps.append(RequestApproved(request_id="r1", approver_ids=["u-carol", "u-mgr"], occurred_at=at(4)))
    [record] = fold(*steps).records()
    assert record.awaiting_step is None and record.awaiting_reviewers == [] and record.awaiting_until is None


def test_a_step_announced_again_replaces_who_may_review_it() -> None:
    again = waiting(0, "u-carol", "u-erin", seconds=5).model_copy(update={"update": True})
    [record] = fold(created("r1", automatic=False), waiting(0, "u-carol", "u-dave"), again).records()
    assert record.awaiting_step == "step 1: any of group sre"
    assert (record.awaiting_reviewers, record.awaiting_reviewer_emails) == (
        ["u-carol", "u-erin"],
        ["carol@example.com", "erin@example.com"],
    )


def test_an_extension_waiting_for_review_is_shown_until_it_is_decided() -> None:
    active = [
        created("r1"),
        RequestApproved(request_id="r1", automatic=True, occurred_at=at(0)),
        GrantActivated(
            request_id="r1",
            requester_id="u-bob",
            connector_id="c",
            integration_id="appdb",
            expires_at=at(3600),
            occurred_at=at(1),
        ),
        GrantExtensionRequested(
            request_id="r1",
            requested_by="u-bob",
            extra_seconds=1800,
            expires_at=at(3600),
            approval_deadline=at(1800),
            occurred_at=at(60),
        ),
        waiting(0, "u-carol", extension=True, seconds=60),
    ]
    [record] = fold(*active).records()
    assert record.outcome == "active" and record.awaiting_step == "extension, step 1: any of group sre"
    [record] = fold(*active, GrantExtensionDenied(request_id="r1", reason="no", occurred_at=at(90))).records()
    assert record.awaiting_step is None and record.awaiting_reviewers == []
    # a completed step of an extension that is then denied approved nothing
    step_done = ReviewRecorded(
        request_id="r1", reviewer_id="u-carol", step=0, step_complete=True, extension=True, occurred_at=at(70)
    )
    denied = GrantExtensionDenied(request_id="r1", reason="second step: no", occurred_at=at(90))
    [record] = fold(*active, step_done, denied).records()
    assert record.extended_by == []
    granted = GrantExtended(
        request_id="r1", expires_at=at(5400), approver_ids=["u-carol"], occurred_at=at(95)
    )
    [record] = fold(*active, step_done, granted).records()
    assert record.extended_by == ["u-carol"] and record.expires_at == at(5400)
    ended = GrantRevoked(request_id="r1", reason="expired", occurred_at=at(3601))
    [record] = fold(*active, ended).records()
    assert record.outcome == "revoked" and record.awaiting_step is None


def test_a_failed_grant_that_may_have_applied_is_open_until_its_revoke_and_marked_possibly_held() -> None:
    """A failure reported first, then the grant applied after all (a forged failure, a late connector):
    flow-engine revokes it. While that runs the story is open again, not ended at the first failure."""
    common = {"request_id": "r-late"}
    first = [
        created("r-late"),
        RequestApproved(automatic=True, occurred_at=at(0), **common),
        GrantRequested(connector_id="c", command_id="g", attempt=1, occurred_at=at(0.1), **common),
        GrantFailed(reason="expired: forged", occurred_at=at(1), **common),
        GrantRevoking(
            connector_id="c",
            command_id="r",
            attempt=1,
            reason="failed",
            confirm_by=at(144),
            detail="the connector applied the grant after it had been reported failed",
            occurred_at=at(24),
            **common,
        ),
    ]
    [open_again] = fold(*first).records()
    assert (open_again.outcome, open_again.ended_at, open_again.may_have_held) == ("revoking", None, True)
    [ended] = fold(
        *first, GrantFailed(reason="…; what it may have applied is revoked", occurred_at=at(26), **common)
    ).records()
    assert (ended.outcome, ended.ended_at, ended.may_have_held) == ("failed", at(26), True)
    assert ended.activated_at is None and ended.as_dict()["may_have_held"] is True
