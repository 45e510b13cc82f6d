"""Timers remember the trace of the event that set them, so firing continues the request's trace.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from latchkey.runtime.migrations import current_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "timers",
        sa.Column("trace_id", sa.Text, nullable=True, comment="W3C trace id of the event that set it"),
        schema=current_schema(),
    )


def downgrade() -> None:
    op.drop_column("timers", "trace_id", schema=current_schema())
