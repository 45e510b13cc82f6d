"""Alembic migrations for a service's own schema, run at start-up under an advisory lock so that
several replicas starting together migrate once."""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from .observability import get_logger

log = get_logger(__name__)


def alembic_config(url: str, package: str, schema: str) -> Config:
    """An Alembic config for the migrations in `package` (a folder with versions/), into `schema`."""
    config = Config()
    config.set_main_option("script_location", str(resources.files(package)))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["schema"] = schema
    return config


def upgrade(url: str, package: str, schema: str) -> None:
    """Bring `schema` to the newest revision (blocking; call from a thread)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{schema}"})
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        config = alembic_config(url, package, schema)
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()
    log.info("database migrated", schema=schema)


async def upgrade_async(url: str, package: str, schema: str) -> None:
    await asyncio.to_thread(upgrade, url, package, schema)


def run_env(target_metadata: sa.MetaData | None = None) -> None:
    """The body of every service's migrations/env.py: online migrations on the given connection."""
    from alembic import context

    config = context.config
    schema = config.attributes["schema"]
    connection = config.attributes.get("connection")
    if connection is None:  # run from the alembic CLI
        engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=sa.pool.NullPool)
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            _configure(context, connection, schema, target_metadata)
        return
    _configure(context, connection, schema, target_metadata)


def _configure(context: Any, connection: sa.Connection, schema: str, metadata: sa.MetaData | None) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table_schema=schema,
        include_schemas=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def head_revision(package: str) -> str | None:
    return ScriptDirectory(str(resources.files(package))).get_current_head()


def current_schema() -> str:
    """The schema being migrated, for use inside a revision file."""
    from alembic import context

    return str(context.config.attributes["schema"])


def create_outbox_and_inbox(schema: str) -> None:
    """Create the runtime's outbox and inbox tables in `schema` (call from a service's first revision)."""
    from alembic import op

    from .db import ServiceTables

    ServiceTables(schema).metadata.create_all(op.get_bind())
