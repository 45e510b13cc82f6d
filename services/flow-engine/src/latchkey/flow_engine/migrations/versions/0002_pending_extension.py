"""Requests remember an extension that waits for the flow's approval steps.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from latchkey.runtime.migrations import current_schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable without a default: PostgreSQL adds it without rewriting the table.
    op.add_column(
        "requests",
        sa.Column(
            "pending_extension",
            JSONB,
            nullable=True,
            comment="an extension awaiting approval: seconds, deadline, steps, progress (revision 0002)",
        ),
        schema=current_schema(),
    )


def downgrade() -> None:
    raise NotImplementedError("flow-engine's schema is only migrated forwards")
