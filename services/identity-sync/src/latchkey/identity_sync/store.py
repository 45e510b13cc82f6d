"""The published directory in PostgreSQL: bulk reads and set-based writes (one statement per chunk,
never a round trip per row), delta cursors and the run log."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.runtime.db import copy_binary

from .domain.model import IdentityUser
from .domain.plan import StoredGroup, SyncPlan

CHUNK = 5000
STREAM_ROWS = 5000
SCHEMA = "identity_sync"


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DirectoryStore:
    """Queries on the identity-sync schema, run inside the caller's unit of work session."""

    def __init__(self, schema: str = SCHEMA) -> None:
        self.schema = schema

    def _t(self, table: str) -> str:
        return f'"{self.schema}".{table}'

    async def lock(self, session: AsyncSession) -> None:
        """Serialise sync runs (replicas, CLI run-once) so two never diff against the same snapshot."""
        await session.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"identity-sync:{self.schema}"}
        )

    async def load_users(
        self, session: AsyncSession, ids: Iterable[str] | None = None
    ) -> dict[str, IdentityUser]:
        sql = f"SELECT user_id, email, active, manager_id FROM {self._t('users')}"
        params: dict[str, Any] = {}
        if ids is not None:
            sql += " WHERE user_id = ANY(:ids)"
            params["ids"] = list(ids)
        users: dict[str, IdentityUser] = {}
        # streamed (server-side cursor): the snapshot is never held twice, as rows and as records
        result = await session.stream(sa.text(sql).execution_options(yield_per=STREAM_ROWS), params)
        async for user_id, email, active, manager_id in result:
            user_id = sys.intern(user_id)
            users[user_id] = IdentityUser(
                user_id, email, active, sys.intern(manager_id) if manager_id is not None else None
            )
        return users

    async def load_nesting(self, session: AsyncSession) -> dict[str, frozenset[str]]:
        """The subgroup ids of every group that has any (a small part of most directories)."""
        rows = await session.execute(
            sa.text(
                f"SELECT group_id, subgroup_ids FROM {self._t('groups')} WHERE cardinality(subgroup_ids) > 0"
            )
        )
        return {group_id: frozenset(subgroups) for group_id, subgroups in rows}

    async def load_groups(
        self, session: AsyncSession, ids: Iterable[str] | None = None
    ) -> dict[str, StoredGroup]:
        """Every stored group, or those in `ids`."""
        sql = f"SELECT group_id, name, direct_member_ids, subgroup_ids, member_ids FROM {self._t('groups')}"
        params: dict[str, Any] = {}
        if ids is not None:
            sql += " WHERE group_id = ANY(:ids)"
            params["ids"] = list(ids)
        result = await session.stream(sa.text(sql).execution_options(yield_per=STREAM_ROWS // 10), params)
        groups: dict[str, StoredGroup] = {}
        async for group_id, name, direct, subgroups, members in result:
            # ids are interned (a user is in many groups) and a flat group shares one set for both
            direct_ids = frozenset(map(sys.intern, direct))
            member_ids = direct_ids if not subgroups else frozenset(map(sys.intern, members))
            groups[group_id] = StoredGroup(group_id, name, direct_ids, frozenset(subgroups), member_ids)
        return groups

    async def apply(self, session: AsyncSession, plan: SyncPlan, source: str) -> None:
        """Write the plan's rows with set-based statements (unnest / jsonb_to_recordset) in chunks."""
        if len(plan.write_users) > CHUNK:
            await self._upsert_users_by_copy(session, plan.write_users, source)
        for chunk in _chunks(plan.write_users) if len(plan.write_users) <= CHUNK else ():
            await session.execute(
                sa.text(
                    f"""
                    INSERT INTO {self._t("users")} (user_id, email, active, manager_id, source)
                    SELECT u.id, u.email, u.active, u.manager_id, :source
                    FROM unnest(CAST(:ids AS text[]), CAST(:emails AS text[]), CAST(:actives AS boolean[]),
                                CAST(:managers AS text[])) AS u(id, email, active, manager_id)
                    ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, active = excluded.active,
                        manager_id = excluded.manager_id, source = excluded.source, updated_at = now()
                    """
                ),
                {
                    "ids": [u.id for u in chunk],
                    "emails": [u.email for u in chunk],
                    "actives": [u.active for u in chunk],
                    "managers": [u.manager_id for u in chunk],
                    "source": source,
                },
            )
        for chunk in _chunks(plan.delete_users):
            await session.execute(
                sa.text(f"DELETE FROM {self._t('users')} WHERE user_id = ANY(:ids)"), {"ids": list(chunk)}
            )
        for chunk in _chunks(plan.write_groups, 2000):
            rows = [
                {
                    "group_id": g.id,
                    "name": g.name,
                    "direct_member_ids": sorted(g.direct_member_ids),
                    "subgroup_ids": sorted(g.subgroup_ids),
                    "member_ids": sorted(g.member_ids),
                }
                for g in chunk
            ]
            await session.execute(
                sa.text(
                    f"""
                    INSERT INTO {self._t("groups")}
                        (group_id, name, direct_member_ids, subgroup_ids, member_ids, source)
                    SELECT g.group_id, g.name, g.direct_member_ids, g.subgroup_ids, g.member_ids, :source
                    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS g(group_id text, name text,
                        direct_member_ids text[], subgroup_ids text[], member_ids text[])
                    ON CONFLICT (group_id) DO UPDATE SET name = excluded.name,
                        direct_member_ids = excluded.direct_member_ids, subgroup_ids = excluded.subgroup_ids,
                        member_ids = excluded.member_ids, source = excluded.source, updated_at = now()
                    """
                ),
                {"rows": json.dumps(rows), "source": source},
            )
        for chunk in _chunks(plan.delete_groups):
            await session.execute(
                sa.text(f"DELETE FROM {self._t('groups')} WHERE group_id = ANY(:ids)"), {"ids": list(chunk)}
            )

    async def _upsert_users_by_copy(
        self, session: AsyncSession, users: Sequence[IdentityUser], source: str
    ) -> None:
        """Large plans (a first full sync): COPY into a transaction-local table, then one upsert."""
        await session.execute(
            sa.text(
                "CREATE TEMP TABLE staged_users (user_id text, email text, active boolean, manager_id text)"
                " ON COMMIT DROP"
            )
        )
        rows = (
            (
                u.id.encode(),
                u.email.encode(),
                b"\x01" if u.active else b"\x00",
                u.manager_id.encode() if u.manager_id is not None else None,
            )
            for u in users
        )
        await copy_binary(session, "staged_users (user_id, email, active, manager_id)", rows, 4)
        await session.execute(
            sa.text(
                f"""
                INSERT INTO {self._t("users")} (user_id, email, active, manager_id, source)
                SELECT user_id, email, active, manager_id, :source FROM staged_users
                ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, active = excluded.active,
                    manager_id = excluded.manager_id, source = excluded.source, updated_at = now()
                """
            ),
            {"source": source},
        )
        await session.execute(sa.text("DROP TABLE staged_users"))

    async def load_cursor(self, session: AsyncSession, provider: str) -> dict[str, Any] | None:
        value = await session.scalar(
            sa.text(f"SELECT cursor FROM {self._t('sync_cursors')} WHERE provider = :p"), {"p": provider}
        )
        return dict(value) if value is not None else None

    async def save_cursor(self, session: AsyncSession, provider: str, cursor: dict[str, Any] | None) -> None:
        if cursor is None:
            await session.execute(
                sa.text(f"DELETE FROM {self._t('sync_cursors')} WHERE provider = :p"), {"p": provider}
            )
            return
        await session.execute(
            sa.text(
                f"""INSERT INTO {self._t("sync_cursors")} (provider, cursor) VALUES (:p, CAST(:c AS jsonb))
                ON CONFLICT (provider) DO UPDATE SET cursor = excluded.cursor, updated_at = now()"""
            ),
            {"p": provider, "c": json.dumps(cursor)},
        )

    async def record_run(
        self,
        session: AsyncSession,
        *,
        run_id: uuid.UUID,
        provider: str,
        mode: str,
        started_at: datetime,
        status: str,
        users_listed: int,
        groups_listed: int,
        events: int,
        http_requests: int,
        http_retries: int,
        error: str | None = None,
    ) -> None:
        await session.execute(
            sa.text(
                f"""INSERT INTO {self._t("sync_runs")} (run_id, provider, mode, started_at, status,
                    users_listed, groups_listed, events, http_requests, http_retries, error)
                VALUES (:run_id, :provider, :mode, :started_at, :status, :users_listed, :groups_listed,
                    :events, :http_requests, :http_retries, :error)"""
            ),
            {
                "run_id": run_id,
                "provider": provider,
                "mode": mode,
                "started_at": started_at,
                "status": status,
                "users_listed": users_listed,
                "groups_listed": groups_listed,
                "events": events,
                "http_requests": http_requests,
                "http_retries": http_retries,
                "error": error,
            },
        )
