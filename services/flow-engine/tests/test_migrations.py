"""flow-engine's schema migrations on a real PostgreSQL: head is exactly what store.py declares, and a
database created at revision 0001 keeps its requests through the upgrade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from latchkey.flow_engine.app import SCHEMA
from latchkey.flow_engine.domain.approval import ReviewRecord
from latchkey.flow_engine.domain.flow import ApprovalStep, Approver
from latchkey.flow_engine.domain.grant import GrantState, PendingExtension
from latchkey.flow_engine.store import FlowEngineStore, build_metadata
from latchkey.runtime import ServiceSettings, UnitOfWork
from latchkey.runtime.db import ServiceTables, make_engine, make_sessions
from latchkey.runtime.migrations import alembic_config

pytestmark = pytest.mark.infra

PACKAGE = "latchkey.flow_engine.migrations"


def migrate(url: str, revision: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        config = alembic_config(url, PACKAGE, SCHEMA)
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def differences(url: str) -> list[object]:
    """What autogenerate would change to make the database match store.py's tables."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    ours = set(build_metadata(SCHEMA).tables)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "compare_type": True,
                # the runtime's outbox/inbox and alembic's own table are not store.py's
                "include_name": lambda name, kind, _: kind != "table" or f"{SCHEMA}.{name}" in ours,
                "include_object": lambda obj, _n, kind, _r, _c: kind != "table" or obj.fullname in ours,
            },
        )
        found = compare_metadata(context, build_metadata(SCHEMA))
    engine.dispose()
    return [d for d in found if not _expression_index(d)]


def _named(diff: object) -> tuple[str, str]:
    """An autogenerate difference as (operation, name of the column or index it adds)."""
    assert isinstance(diff, tuple), diff
    return diff[0], diff[-1].name


def _expression_index(diff: object) -> bool:
    # users_email is an index on lower(email): autogenerate cannot compare expression indexes
    return isinstance(diff, tuple) and getattr(diff[-1], "name", None) == "users_email"


def test_head_has_exactly_the_tables_the_store_declares(database_url: str) -> None:
    migrate(database_url, "head")
    assert differences(database_url) == []


async def test_requests_from_revision_0001_survive_the_upgrade_and_keep_an_extension(
    database_url: str,
) -> None:
    migrate(database_url, "0001")
    # 0001 is frozen: 0002 adds the extension column, 0003 the index of requests awaiting review,
    # 0004 the reason a failed grant is being revoked for, 0005 the index of groups by name
    assert sorted(_named(d) for d in differences(database_url)) == [
        ("add_column", "failure_reason"),
        ("add_column", "pending_extension"),
        ("add_index", "groups_name"),
        ("add_index", "requests_awaiting_review"),
    ]
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    store = FlowEngineStore(SCHEMA)
    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f"SET search_path TO {SCHEMA}"))
        conn.execute(
            sa.text("INSERT INTO flow_versions (digest, document) VALUES ('d1', :doc)"), {"doc": "{}"}
        )
        conn.execute(
            sa.text(
                "INSERT INTO requests (request_id, state, requester_id, integration_id, connector_id,"
                " resource_id, resource_name, permission, duration_seconds, flow_name, flow_digest, steps,"
                " current_step, approvals, expires_at, extended_seconds, revoke_attempt, created_at)"
                " VALUES ('r-old', 'active', 'u-alice', 'pg', 'c1', 'db', 'db', 'readonly', 3600, 'ro',"
                " 'd1', '[]', 0, '[]', :ends, 0, 0, :now)"
            ),
            {"ends": now + timedelta(hours=1), "now": now},
        )
    engine.dispose()
    migrate(database_url, "head")

    database = make_engine(database_url)
    sessions = make_sessions(database)

    def unit_of_work() -> UnitOfWork:
        return UnitOfWork(sessions, ServiceTables(SCHEMA), ServiceSettings())

    try:
        async with unit_of_work() as uow:
            old = (await store.lock_requests(uow.session, ["r-old"]))["r-old"]
            assert old.state is GrantState.active and old.pending_extension is None
            old.pending_extension = PendingExtension(
                extra_seconds=1800,
                deadline=now + timedelta(hours=1),
                steps=[ApprovalStep(any_of=[Approver(group="db-admins")])],
                current_step=1,
                approvals=[ReviewRecord(0, "u-dba", (0,))],
            )
            await store.save_requests(uow, [old])
        async with unit_of_work() as uow:
            loaded = (await store.lock_requests(uow.session, ["r-old"]))["r-old"]
            assert loaded.pending_extension == old.pending_extension
            loaded.pending_extension = None
            await store.save_requests(uow, [loaded])
        async with database.connect() as conn:
            column = store.requests.c.pending_extension
            is_null = await conn.scalar(
                sa.select(column.is_(None)).where(store.requests.c.request_id == "r-old")
            )
        assert is_null is True  # SQL NULL, not a JSON null
    finally:
        await database.dispose()
