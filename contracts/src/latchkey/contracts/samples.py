"""One valid instance of every event type, for round-trip tests, fuzzing and documentation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from . import (
    AccessFlowDeleted,
    AccessFlowUpserted,
    ActionRefused,
    CancelRequested,
    CommandApplied,
    CommandFailed,
    CredentialRotated,
    DeadLetter,
    Event,
    ExtensionRequested,
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
    GroupDeleted,
    GroupUpserted,
    InventorySynced,
    Principal,
    RequestApproved,
    RequestCancelled,
    RequestCreated,
    RequestDenied,
    RequestExpired,
    RequestRejected,
    RequestSubmitted,
    ResourceDiscovered,
    ResourceRemoved,
    ReviewApproved,
    ReviewDenied,
    Reviewer,
    ReviewRecorded,
    ReviewRefused,
    ReviewRequested,
    RevokeCommand,
    RevokeOverdue,
    RevokeRequested,
    RotateCommand,
    SyncInventoryCommand,
    TimerFired,
    UserDeactivated,
    UserUpserted,
)


def sample_events(connector_id: str = "c1") -> list[tuple[str, Event]]:
    """(topic name, event) for every event type; correlation id `req-1` throughout."""
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    later = now + timedelta(hours=1)
    env = {"producer": "samples", "correlation_id": "req-1"}
    rid = {"request_id": "req-1", **env}
    principal = Principal(user_id="u-1", email="ada@example.com")
    cmd = {
        "grant_id": "req-1",
        "connector_id": connector_id,
        "integration_id": "appdb",
        "issued_at": now,
        "not_after": now + timedelta(minutes=5),
        **env,
    }
    target = {"template": "readonly", "resource": "appdb/public", "parameters": {"schema": "public"}}
    commands = f"connector.{connector_id}.commands.v1"
    return [
        ("identity.users.v1", UserUpserted(user_id="u-1", email="ada@example.com", manager_id="u-2", **env)),
        ("identity.users.v1", UserDeactivated(user_id="u-1", **env)),
        ("identity.groups.v1", GroupUpserted(group_id="g-1", name="engineering", member_ids=["u-1"], **env)),
        ("identity.groups.v1", GroupDeleted(group_id="g-1", **env)),
        (
            "access.flows.v1",
            AccessFlowUpserted(name="db-readonly", spec={"kind": "AccessFlow"}, digest="d", **env),
        ),
        ("access.flows.v1", AccessFlowDeleted(name="db-readonly", **env)),
        (
            "access.requests.v1",
            RequestSubmitted(
                id_token="tok",
                integration_id="appdb",
                resource="appdb/public",
                permission="readonly",
                duration_seconds=600,
                justification="incident 42",
                requester_public_key="a2V5",
                **rid,
            ),
        ),
        ("access.requests.v1", ReviewApproved(id_token="tok", reason="ok", **rid)),
        ("access.requests.v1", ReviewDenied(id_token="tok", reason="no", **rid)),
        ("access.requests.v1", CancelRequested(id_token="tok", **rid)),
        ("access.requests.v1", ExtensionRequested(id_token="tok", extra_seconds=600, **rid)),
        ("access.requests.v1", RevokeRequested(id_token="tok", **rid)),
        (
            "access.lifecycle.v1",
            RequestCreated(
                requester_id="u-1",
                integration_id="appdb",
                resource="appdb/public",
                permission="readonly",
                duration_seconds=600,
                flow_name="db-readonly",
                automatic=False,
                approval_deadline=later,
                **rid,
            ),
        ),
        ("access.lifecycle.v1", RequestRejected(code="invalid_token", reason="token expired", **rid)),
        (
            "access.lifecycle.v1",
            ReviewRequested(
                step=0,
                step_description="step 1: any of group sre",
                reviewers=[Reviewer(user_id="u-2", email="carol@example.com")],
                **rid,
            ),
        ),
        ("access.lifecycle.v1", ReviewRecorded(reviewer_id="u-2", step=0, step_complete=True, **rid)),
        ("access.lifecycle.v1", ReviewRefused(reviewer_id="u-1", reason="self-approval", **rid)),
        (
            "access.lifecycle.v1",
            ActionRefused(
                action="access.cancel.requested",
                actor_id="u-3",
                code="not_allowed",
                reason="only the requester may do this",
                **rid,
            ),
        ),
        ("access.lifecycle.v1", RequestApproved(approver_ids=["u-2"], **rid)),
        ("access.lifecycle.v1", RequestDenied(reason="no flow", **rid)),
        ("access.lifecycle.v1", RequestCancelled(**rid)),
        ("access.lifecycle.v1", RequestExpired(**rid)),
        (
            "access.lifecycle.v1",
            GrantRequested(connector_id=connector_id, command_id="cmd-1", attempt=1, **rid),
        ),
        (
            "access.lifecycle.v1",
            GrantActivated(
                requester_id="u-1", connector_id=connector_id, integration_id="appdb", expires_at=later, **rid
            ),
        ),
        ("access.lifecycle.v1", GrantExtended(expires_at=later, approver_ids=["u-2"], **rid)),
        (
            "access.lifecycle.v1",
            GrantExtensionRequested(
                requested_by="u-1",
                extra_seconds=1800,
                expires_at=later,
                approval_deadline=later,
                steps=["database admin: any of group db-admins"],
                justification="the migration is still running",
                **rid,
            ),
        ),
        ("access.lifecycle.v1", GrantExtensionDenied(reason="not needed", denied_by="u-2", **rid)),
        (
            "access.lifecycle.v1",
            GrantRevoking(
                connector_id=connector_id,
                command_id="cmd-2",
                attempt=1,
                reason="expired",
                confirm_by=later,
                **rid,
            ),
        ),
        ("access.lifecycle.v1", GrantRevoked(reason="expired", **rid)),
        ("access.lifecycle.v1", GrantRevokeFailed(attempt=1, reason="timeout", **rid)),
        ("access.lifecycle.v1", GrantRevokeOverdue(attempts=5, reason="target unreachable", **rid)),
        ("access.lifecycle.v1", GrantFailed(reason="role missing", **rid)),
        ("access.lifecycle.v1", CredentialRotated(**rid)),
        (commands, GrantCommand(command_id="cmd-1", principal=principal, expires_at=later, **target, **cmd)),
        (
            commands,
            RevokeCommand(command_id="cmd-2", principal=principal, rotate_credentials=True, **target, **cmd),
        ),
        (commands, RotateCommand(command_id="cmd-3", principal=principal, **target, **cmd)),
        (commands, SyncInventoryCommand(command_id="cmd-4", **cmd)),
        (
            "connector.results.v1",
            CommandApplied(
                command_id="cmd-1",
                grant_id="req-1",
                connector_id=connector_id,
                command_type="connector.grant",
                attempt=1,
                **env,
            ),
        ),
        (
            "connector.results.v1",
            CommandFailed(
                command_id="cmd-1",
                grant_id="req-1",
                connector_id=connector_id,
                code="bad_signature",
                reason="signature does not verify",
                **env,
            ),
        ),
        (
            "inventory.v1",
            ResourceDiscovered(
                connector_id=connector_id,
                integration_id="appdb",
                integration_type="postgresql",
                resource_id="appdb/public",
                resource_type="schema",
                name="public",
                permissions=["readonly"],
                owner_ids=["u-2"],
                **env,
            ),
        ),
        (
            "inventory.v1",
            ResourceRemoved(
                connector_id=connector_id, integration_id="appdb", resource_id="appdb/public", **env
            ),
        ),
        (
            "inventory.v1",
            InventorySynced(
                connector_id=connector_id,
                integration_id="appdb",
                integration_type="postgresql",
                resource_count=3,
                **env,
            ),
        ),
        ("expiry.timers.v1", TimerFired(timer_id="t-1", kind="grant_end", due_at=now, **rid)),
        ("expiry.timers.v1", RevokeOverdue(attempts=5, first_due_at=now, **rid)),
        (
            "access.lifecycle.v1.dlq",
            DeadLetter(
                source_topic="access.lifecycle.v1",
                partition=0,
                offset=7,
                value_b64="eyJ4Ijp9",
                consumer="expiry",
                error_type="ValidationError",
                reason="bad json",
                **env,
            ),
        ),
    ]
