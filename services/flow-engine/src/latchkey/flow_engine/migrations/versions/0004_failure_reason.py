"""A grant that failed after it may have changed the target is revoked before it ends `failed`: the
request keeps why it failed until that revoke is confirmed.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from latchkey.runtime.migrations import current_schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "requests",
        sa.Column(
            "failure_reason",
            sa.Text,
            nullable=True,
            comment="why the grant failed, while what it may have applied is revoked (revision 0004)",
        ),
        schema=current_schema(),
    )


def downgrade() -> None:
    raise NotImplementedError("flow-engine's schema is only migrated forwards")
