"""flow-engine's first schema: outbox, inbox, read models, requests.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from latchkey.runtime.migrations import create_outbox_and_inbox, current_schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    schema = current_schema()
    create_outbox_and_inbox(schema)
    _tables(schema).create_all(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("flow-engine's schema is only migrated forwards")


def _tables(schema: str) -> sa.MetaData:
    """The tables exactly as this revision created them (a copy: store.py moves on, this must not)."""
    metadata = sa.MetaData(schema=schema)
    sa.Table(
        "users",
        metadata,
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("email", sa.Text, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("manager_id", sa.Text, nullable=True),
        sa.Index("users_email", sa.func.lower(sa.column("email"))),
    )
    sa.Table(
        "groups",
        metadata,
        sa.Column("group_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
    )
    sa.Table(
        "group_members",
        metadata,
        sa.Column("group_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Index("group_members_user", "user_id"),
    )
    sa.Table(
        "integrations",
        metadata,
        sa.Column("integration_id", sa.Text, primary_key=True),
        sa.Column("connector_id", sa.Text, nullable=False),
        sa.Column("integration_type", sa.Text, nullable=False),
    )
    sa.Table(
        "resources",
        metadata,
        sa.Column("integration_id", sa.Text, primary_key=True),
        sa.Column("resource_id", sa.Text, primary_key=True),
        sa.Column("connector_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("resource_type", sa.Text, nullable=False),
        sa.Column("permissions", JSONB, nullable=False),
        sa.Column("owner_ids", JSONB, nullable=False),
        sa.Column("tags", JSONB, nullable=False),
        sa.Index("resources_name", "integration_id", "name"),
    )
    sa.Table(
        "flows",
        metadata,
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("document", JSONB, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
    )
    sa.Table(
        "flow_versions",
        metadata,
        sa.Column("digest", sa.Text, primary_key=True),
        sa.Column("document", JSONB, nullable=False),
    )
    sa.Table(
        "requests",
        metadata,
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("requester_id", sa.Text, nullable=False),
        sa.Column("requester_email", sa.Text, nullable=True),
        sa.Column("integration_id", sa.Text, nullable=False),
        sa.Column("connector_id", sa.Text, nullable=False),
        sa.Column("resource_id", sa.Text, nullable=False),
        sa.Column("resource_name", sa.Text, nullable=False),
        sa.Column("permission", sa.Text, nullable=False),
        sa.Column("duration_seconds", sa.Integer, nullable=False),
        sa.Column("justification", sa.Text, nullable=True),
        sa.Column("flow_name", sa.Text, nullable=False),
        sa.Column(
            "flow_digest", sa.Text, nullable=False, comment="flow_versions.digest: the flow as applied"
        ),
        sa.Column("steps", JSONB, nullable=False),
        sa.Column("current_step", sa.Integer, nullable=False),
        sa.Column("approvals", JSONB, nullable=False),
        sa.Column("approval_deadline", TS, nullable=True),
        sa.Column("requester_public_key", sa.Text, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("extended_seconds", sa.Integer, nullable=False),
        sa.Column("revoke_attempt", sa.Integer, nullable=False),
        sa.Column("revoke_reason", sa.Text, nullable=True),
        sa.Column("last_command_id", sa.Text, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Index("requests_requester_open", "requester_id", "state"),
    )
    return metadata
