"""One line a person reads for each lifecycle event: `latchkey-access status` and the notifications
print these. Sealed credentials are never part of a line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from latchkey.contracts import Event

from .domain.flow import format_duration


def describe(event: Event) -> str:
    """One line a person reads for a lifecycle event (no secrets: sealed credentials are not shown)."""
    e: Any = event
    match event.type:
        case "access.request.created":
            how = "automatic approval" if e.automatic else "needs approval"
            return (
                f"requested {e.permission} on {e.resource} ({e.integration_id}) for "
                f"{format_duration(e.duration_seconds)} under flow {e.flow_name}: {how}"
            )
        case "access.request.rejected":
            return f"rejected ({e.code}): {e.reason}"
        case "access.review.requested":
            what = "the extension's " if e.extension else ""
            names = [r.email or r.user_id for r in e.reviewers]
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            more = " and more" if e.reviewers_truncated else ""
            who = f"{shown}{more}" if names else "no one qualifies now (ask an admin to check the flow)"
            changed = "reviewers changed; " if e.update else ""
            return f"{changed}waiting for {what}{e.step_description} — may review: {who}"
        case "access.review.recorded":
            done = "step complete" if e.step_complete else "step still open"
            return f"approved by {e.reviewer_id} (step {e.step + 1}, {done})"
        case "access.review.refused":
            return f"review refused: {e.reason}"
        case "access.action.refused":
            return f"{e.action.split('.')[1]} refused ({e.code}): {e.reason}"
        case "access.request.approved":
            return "approved" + (" automatically" if e.automatic else f" by {', '.join(e.approver_ids)}")
        case "access.request.denied":
            return f"denied{' by ' + e.denied_by if e.denied_by else ''}: {e.reason}"
        case "access.request.cancelled" | "access.request.expired":
            return f"{event.type.rsplit('.', 1)[1]}{': ' + e.reason if e.reason else ''}"
        case "access.grant.requested":
            return f"granting through connector {e.connector_id} (attempt {e.attempt})"
        case "access.grant.activated":
            issued = ", credentials issued" if e.sealed_credentials else ""
            return f"ACTIVE until {local_time(e.expires_at)}{issued}"
        case "access.grant.extended":
            return f"extended until {local_time(e.expires_at)}"
        case "access.grant.extension_requested":
            return f"extension by {format_duration(e.extra_seconds)} asked; needs: {'; '.join(e.steps)}"
        case "access.grant.extension_denied":
            return f"extension denied: {e.reason}"
        case "access.grant.revoking":
            if e.reason == "failed":
                return f"grant failed: {e.detail or 'see the connector'}; revoking what it may have applied"
            return f"revoking ({e.reason})"
        case "access.grant.revoked":
            return f"revoked ({e.reason})"
        case "access.grant.revoke_failed":
            return f"revoke attempt {e.attempt} failed: {e.reason} (retrying)"
        case "access.grant.revoke_overdue":
            return f"REVOKE OVERDUE after {e.attempts} attempts: {e.reason}"
        case "access.grant.failed":
            return f"grant failed: {e.reason}"
        case "access.credential.rotated":
            return "credential rotated"
    return event.type


def local_time(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
