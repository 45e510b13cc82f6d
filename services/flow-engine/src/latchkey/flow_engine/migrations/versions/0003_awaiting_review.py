"""Requests with an approval step open are indexed: identity and ownership changes look them up.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from latchkey.runtime.migrations import current_schema

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial: only the few requests awaiting review are in it, however long the history grows.
    op.create_index(
        "requests_awaiting_review",
        "requests",
        ["request_id"],
        schema=current_schema(),
        postgresql_where=sa.text("state = 'pending' OR (state = 'active' AND pending_extension IS NOT NULL)"),
    )


def downgrade() -> None:
    raise NotImplementedError("flow-engine's schema is only migrated forwards")
