"""flow-engine's first schema: outbox, inbox, read models, requests.

Revision ID: 0001
"""

from alembic import op

from latchkey.flow_engine.store import build_metadata
from latchkey.runtime.migrations import create_outbox_and_inbox, current_schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    create_outbox_and_inbox(schema)
    # The tables as of this revision; later changes get their own revisions.
    build_metadata(schema).create_all(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("flow-engine's schema is only migrated forwards")
