"""Outbox, inbox, timers and revocations.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

from latchkey.runtime.migrations import create_outbox_and_inbox, current_schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_KINDS = ("approval_timeout", "expiry_reminder", "grant_end", "revoke_confirmation", "revoke_retry")


def upgrade() -> None:
    schema = current_schema()
    create_outbox_and_inbox(schema)
    kinds = ", ".join(f"'{k}'" for k in _KINDS)
    op.create_table(
        "timers",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("request_id", sa.Text, nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("cause_event_id", UUID(as_uuid=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fired_event_id", UUID(as_uuid=True), nullable=True),
        sa.CheckConstraint(f"kind IN ({kinds})", name="timers_kind"),
        sa.CheckConstraint("state IN ('pending', 'fired', 'cancelled')", name="timers_state"),
        schema=schema,
    )
    op.create_index(
        "timers_one_pending",
        "timers",
        ["request_id", "kind"],
        unique=True,
        schema=schema,
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "timers_due", "timers", ["due_at", "id"], schema=schema, postgresql_where=sa.text("state = 'pending'")
    )
    op.create_index("timers_request", "timers", ["request_id"], schema=schema)
    op.create_table(
        "revocations",
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("overdue_alarmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema=schema,
    )


def downgrade() -> None:
    schema = current_schema()
    op.drop_table("revocations", schema=schema)
    op.drop_table("timers", schema=schema)
    op.drop_table("inbox", schema=schema)
    op.drop_table("outbox", schema=schema)
