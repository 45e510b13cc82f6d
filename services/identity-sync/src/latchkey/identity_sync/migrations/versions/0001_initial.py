"""identity-sync: the published directory snapshot, delta cursors, run log, outbox and inbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from latchkey.runtime.migrations import create_outbox_and_inbox, current_schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema = current_schema()
    create_outbox_and_inbox(schema)
    # Only IdP id, email, active flag, manager id and memberships: nothing else about a person.
    op.execute(
        f"""
        CREATE TABLE "{schema}".users (
            user_id text PRIMARY KEY,
            email text NOT NULL,
            active boolean NOT NULL,
            manager_id text,
            source text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE "{schema}".groups (
            group_id text PRIMARY KEY,
            name text NOT NULL,
            direct_member_ids text[] NOT NULL DEFAULT '{{}}',
            subgroup_ids text[] NOT NULL DEFAULT '{{}}',
            member_ids text[] NOT NULL DEFAULT '{{}}',
            source text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE "{schema}".sync_cursors (
            provider text PRIMARY KEY,
            cursor jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE "{schema}".sync_runs (
            run_id uuid PRIMARY KEY,
            provider text NOT NULL,
            mode text NOT NULL,
            started_at timestamptz NOT NULL,
            finished_at timestamptz NOT NULL DEFAULT now(),
            status text NOT NULL,
            users_listed integer NOT NULL DEFAULT 0,
            groups_listed integer NOT NULL DEFAULT 0,
            events integer NOT NULL DEFAULT 0,
            http_requests integer NOT NULL DEFAULT 0,
            http_retries integer NOT NULL DEFAULT 0,
            error text
        );
        """
    )


def downgrade() -> None:
    schema = current_schema()
    for table in ("sync_runs", "sync_cursors", "groups", "users", "inbox", "outbox"):
        op.execute(f'DROP TABLE IF EXISTS "{schema}".{table}')
