"""Groups are indexed by name: a flow's group reference matches by name only while one group has it,
which every read of people asks (an index-only probe per membership).

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from latchkey.runtime.migrations import current_schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("groups_name", "groups", ["name", "group_id"], schema=current_schema())


def downgrade() -> None:
    raise NotImplementedError("flow-engine's schema is only migrated forwards")
