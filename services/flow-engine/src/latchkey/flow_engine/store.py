"""flow-engine's tables: read models of identities, inventory and flows, and the requests themselves.

Queries here only load and save; every decision is made in `domain/`.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from latchkey.runtime.db import Compiled, Read, array_params, insert_from_arrays, read_one
from latchkey.runtime.unit_of_work import UnitOfWork

from .domain.approval import ReviewRecord
from .domain.flow import ApprovalStep
from .domain.grant import FINAL, AccessRequest, GrantState, PendingExtension
from .domain.identity import Person, Resource, email_key, shared_email_key

TS = sa.DateTime(timezone=True)


def awaiting_review(requests: sa.Table) -> sa.ColumnElement[bool]:
    """Requests with an approval step open: pending ones, and active ones whose extension waits (the
    partial index requests_awaiting_review, revision 0003, holds exactly these)."""
    return sa.or_(
        requests.c.state == GrantState.pending.value,
        sa.and_(requests.c.state == GrantState.active.value, requests.c.pending_extension.is_not(None)),
    )


@dataclass
class OpenRequests:
    """What `FlowEngineStore.lock_open_requests` locked: the requests with an approval step open (by
    request id), and the unfinished requests of each requester it was asked about (in request id order)."""

    awaiting: dict[str, AccessRequest]
    of_requester: dict[str, list[AccessRequest]]


def build_metadata(schema: str) -> sa.MetaData:
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
        # whether a group's name is shared by another group, asked for the groups of every person a
        # batch reads (an index-only probe per distinct group; revision 0005)
        sa.Index("groups_name", "name", "group_id"),
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
    requests = sa.Table(
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
        sa.Column(
            "failure_reason",
            sa.Text,
            nullable=True,
            comment="why the grant failed, while what it may have applied is revoked (revision 0004)",
        ),
        sa.Column(
            "pending_extension",
            JSONB(none_as_null=True),
            nullable=True,
            comment="an extension awaiting approval: seconds, deadline, steps, progress (revision 0002)",
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Index("requests_requester_open", "requester_id", "state"),
    )
    sa.Index("requests_awaiting_review", requests.c.request_id, postgresql_where=awaiting_review(requests))
    return metadata


class FlowEngineStore:
    """Loads and saves on one session; tables live in `schema`."""

    def __init__(self, schema: str) -> None:
        self.metadata = build_metadata(schema)
        t = self.metadata.tables
        self.users = t[f"{schema}.users"]
        self.groups = t[f"{schema}.groups"]
        self.members = t[f"{schema}.group_members"]
        self.integrations = t[f"{schema}.integrations"]
        self.resources = t[f"{schema}.resources"]
        self.flows = t[f"{schema}.flows"]
        self.requests = t[f"{schema}.requests"]
        self.flow_versions = t[f"{schema}.flow_versions"]
        self._stored_versions: set[str] = set()  # digests known to be committed in flow_versions
        # The statements of every batch, compiled once (`Compiled`; parameters are arrays, so one
        # text whatever the batch size, which psycopg and PostgreSQL then prepare once).
        ids, texts = sa.bindparam("ids", type_=ARRAY(sa.Text)), ARRAY(sa.Text)
        q, u, m, g, r = self.requests, self.users, self.members, self.groups, self.resources
        # A group is matched by name only while no other group has that name, and no other group has
        # it as its id: a group named like another's id would otherwise match a reference to that id
        # (Person.in_group).
        other = g.alias("other_group")
        shares_name = sa.exists().where(
            other.c.group_id != g.c.group_id, sa.or_(other.c.name == g.c.name, other.c.group_id == g.c.name)
        )
        self._lock_requests = Compiled(
            self._select_requests()
            .add_columns(u.c.active.label("requester_active"))
            .outerjoin(u, u.c.user_id == q.c.requester_id)
            .where(q.c.request_id == sa.any_(ids))
            .order_by(q.c.request_id)
            .with_for_update(of=q)
        )
        # One round trip: each user once per group they are in (or once with no group), with whether
        # another group has that group's name: probed once per distinct group of the batch's people
        # (they share most of their groups), not once per membership.
        mine = (
            sa.select(u.c.user_id, u.c.email, u.c.active, u.c.manager_id, m.c.group_id)
            .select_from(u.outerjoin(m, m.c.user_id == u.c.user_id))
            .where(
                sa.or_(
                    u.c.user_id == sa.any_(ids),
                    sa.func.lower(u.c.email) == sa.any_(sa.bindparam("emails", type_=texts)),
                )
            )
            .cte("mine")
        )
        theirs = (
            sa.select(g.c.group_id, g.c.name, shares_name.label("shared"))
            .where(g.c.group_id.in_(sa.select(mine.c.group_id)))
            .cte("theirs")
        )
        self._people = Compiled(
            sa.select(
                mine.c.user_id,
                mine.c.email,
                mine.c.active,
                mine.c.manager_id,
                theirs.c.group_id.label("member_of"),
                theirs.c.name.label("member_of_name"),
                theirs.c.shared.label("member_of_name_shared"),
            ).select_from(mine.outerjoin(theirs, theirs.c.group_id == mine.c.group_id))
        )
        # Resources named by (integration, resource id or name) pairs, given as two parallel arrays.
        wanted = (
            sa.func.unnest(sa.bindparam("integrations", type_=texts), sa.bindparam("keys", type_=texts))
            .table_valued("integration_id", "key")
            .render_derived(name="wanted")
        )
        same_integration = r.c.integration_id == wanted.c.integration_id
        self._find_resources = Compiled(
            sa.select(r).join(
                wanted,
                sa.and_(same_integration, sa.or_(r.c.resource_id == wanted.c.key, r.c.name == wanted.c.key)),
            )
        )
        self._owners = Compiled(
            sa.select(r.c.integration_id, r.c.resource_id, r.c.owner_ids).join(
                wanted, sa.and_(same_integration, r.c.resource_id == wanted.c.key)
            )
        )
        self._flow_digests = Compiled(sa.select(self.flows.c.name, self.flows.c.digest))
        # Users an approval step names: by id or email, and the members of its groups (by id, or by a
        # name no other group has); the first active ones in user id order, at most `limit` (a group
        # may have thousands).
        named = sa.bindparam("names", type_=texts)
        lowered = sa.bindparam("lowered", type_=texts)
        groups = sa.bindparam("groups", type_=texts)
        candidates = sa.union(
            sa.select(u.c.user_id).where(
                sa.or_(u.c.user_id == sa.any_(named), sa.func.lower(u.c.email) == sa.any_(lowered))
            ),
            sa.select(m.c.user_id)
            .join(g, g.c.group_id == m.c.group_id)
            .where(
                sa.or_(g.c.group_id == sa.any_(groups), sa.and_(g.c.name == sa.any_(groups), ~shares_name))
            ),
        ).subquery("candidates")
        self._named_users = Compiled(
            sa.select(candidates.c.user_id)
            .join(u, u.c.user_id == candidates.c.user_id)
            .where(u.c.active)
            .order_by(candidates.c.user_id)
            .limit(sa.bindparam("limit", type_=sa.Integer))
        )

    # -- identity ---------------------------------------------------------------------------------
    async def upsert_users(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            stmt = insert(self.users)
            excluded = stmt.excluded
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["user_id"],
                    set_={c: excluded[c] for c in ("email", "active", "manager_id")},
                ),
                list(rows),
            )

    async def deactivate_users(self, session: AsyncSession, user_ids: Sequence[str]) -> None:
        if user_ids:
            u = self.users
            await session.execute(sa.update(u).where(u.c.user_id.in_(list(user_ids))).values(active=False))

    async def delete_user(self, session: AsyncSession, user_id: str) -> None:
        await session.execute(sa.delete(self.users).where(self.users.c.user_id == user_id))

    async def replace_group(
        self, session: AsyncSession, group_id: str, name: str, members: list[str]
    ) -> None:
        stmt = insert(self.groups).values(group_id=group_id, name=name)
        await session.execute(stmt.on_conflict_do_update(index_elements=["group_id"], set_={"name": name}))
        await session.execute(sa.delete(self.members).where(self.members.c.group_id == group_id))
        if members:
            await session.execute(
                insert(self.members).on_conflict_do_nothing(),
                [{"group_id": group_id, "user_id": m} for m in dict.fromkeys(members)],
            )

    async def delete_group(self, session: AsyncSession, group_id: str) -> None:
        await session.execute(sa.delete(self.members).where(self.members.c.group_id == group_id))
        await session.execute(sa.delete(self.groups).where(self.groups.c.group_id == group_id))

    async def people(
        self, session: AsyncSession, user_ids: Iterable[str] = (), emails: Iterable[str] = ()
    ) -> dict[str, Person]:
        """People by user id and by lower-cased email (both keys point at the same Person)."""
        return await read_one(session, self.people_read(user_ids, emails))

    def people_read(self, user_ids: Iterable[str], emails: Iterable[str]) -> Read[dict[str, Person]]:
        """`people` as a `Read` (to share a round trip)."""
        params = {"ids": list(set(user_ids)), "emails": list({e.lower() for e in emails})}
        return Read(self._people, params, _people_by_id_and_email)

    def named_users_read(self, users: Iterable[str], groups: Iterable[str], limit: int) -> Read[set[str]]:
        """Ids of the active users named in `users` (ids or emails) and of the active members of
        `groups` (ids, or names only one group has), the first `limit` in user id order: who an
        approval step's `user` and `group` approvers may be (as a `Read`, to share a round trip)."""
        names, group_refs = sorted(set(users)), sorted(set(groups))
        params = {
            "names": names,
            "lowered": [n.lower() for n in names],
            "groups": group_refs,
            "limit": limit,
        }
        return Read(self._named_users, params, lambda rows: {r.user_id for r in rows})

    async def shared_group_names(
        self, session: AsyncSession, names: Iterable[str]
    ) -> dict[str, tuple[str, ...]]:
        """Of these group names, those several groups have (as a name, or one as its name and another
        as its id), each with the ids of those groups (sorted)."""
        g = self.groups
        wanted = sa.bindparam("names", value=sorted(set(names)), type_=ARRAY(sa.Text))
        holders = sa.union_all(
            sa.select(g.c.name.label("name"), g.c.group_id).where(g.c.name == sa.any_(wanted)),
            sa.select(g.c.group_id.label("name"), g.c.group_id).where(g.c.group_id == sa.any_(wanted)),
        ).subquery()
        rows = await session.execute(
            sa.select(holders.c.name, sa.func.array_agg(sa.distinct(holders.c.group_id)).label("group_ids"))
            .group_by(holders.c.name)
            .having(sa.func.count(sa.distinct(holders.c.group_id)) > 1)
        )
        return {row.name: tuple(sorted(row.group_ids)) for row in rows}

    async def group_names(self, session: AsyncSession, group_ids: Iterable[str]) -> set[str]:
        """The names of these groups (flows may name a group either way)."""
        g = self.groups
        ids = sa.bindparam("ids", value=sorted(set(group_ids)), type_=ARRAY(sa.Text))
        rows = await session.execute(sa.select(g.c.name).where(g.c.group_id == sa.any_(ids)))
        return {row.name for row in rows}

    # -- inventory --------------------------------------------------------------------------------
    async def upsert_integration(
        self, session: AsyncSession, integration_id: str, connector_id: str, integration_type: str
    ) -> None:
        stmt = insert(self.integrations).values(
            integration_id=integration_id, connector_id=connector_id, integration_type=integration_type
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["integration_id"],
                set_={"connector_id": connector_id, "integration_type": integration_type},
            )
        )

    async def upsert_resources(self, session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            stmt = insert(self.resources)
            columns = ("connector_id", "name", "resource_type", "permissions", "owner_ids", "tags")
            excluded = stmt.excluded
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["integration_id", "resource_id"],
                    set_={c: excluded[c] for c in columns},
                ),
                list(rows),
            )

    async def delete_resource(self, session: AsyncSession, integration_id: str, resource_id: str) -> None:
        r = self.resources
        await session.execute(
            sa.delete(r).where(r.c.integration_id == integration_id, r.c.resource_id == resource_id)
        )

    async def connector_ids(self, session: AsyncSession) -> set[str]:
        return set((await session.execute(sa.select(self.integrations.c.connector_id).distinct())).scalars())

    async def find_resources(
        self, session: AsyncSession, wanted: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Resource]:
        """Resources by (integration_id, resource id or name)."""
        return await read_one(session, self.find_resources_read(wanted))

    def find_resources_read(self, wanted: Iterable[tuple[str, str]]) -> Read[dict[tuple[str, str], Resource]]:
        """`find_resources` as a `Read` (to share a round trip)."""
        return Read(self._find_resources, _pair_arrays(list(set(wanted))), _resources_by_key)

    async def owners(
        self, session: AsyncSession, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], frozenset[str]]:
        pairs = list(set(keys))
        if not pairs:
            return {}
        return await read_one(
            session,
            Read(
                self._owners,
                _pair_arrays(pairs),
                lambda rows: {(x.integration_id, x.resource_id): frozenset(x.owner_ids) for x in rows},
            ),
        )

    # -- flows ------------------------------------------------------------------------------------
    async def upsert_flow(
        self, session: AsyncSession, name: str, document: dict[str, Any], digest: str
    ) -> None:
        stmt = insert(self.flows).values(name=name, document=document, digest=digest)
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["name"],
                set_={"document": document, "digest": digest, "updated_at": sa.func.now()},
            )
        )

    async def delete_flow(self, session: AsyncSession, name: str) -> None:
        await session.execute(sa.delete(self.flows).where(self.flows.c.name == name))

    def flow_digests_read(self) -> Read[dict[str, str]]:
        """The current flows' digests by name (read for every batch of requests: no documents)."""
        return Read(self._flow_digests, {}, lambda rows: {r.name: r.digest for r in rows})

    async def flow_documents(self, session: AsyncSession, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        f = self.flows
        rows = await session.execute(sa.select(f.c.name, f.c.document).where(f.c.name.in_(names)))
        return {r.name: r.document for r in rows}

    # -- requests ---------------------------------------------------------------------------------
    async def lock_requests(
        self, session: AsyncSession, request_ids: Iterable[str]
    ) -> dict[str, AccessRequest]:
        """Load and lock (in id order, so concurrent batches cannot deadlock) the given requests."""
        return await read_one(session, self.lock_requests_read(request_ids))

    def lock_requests_read(self, request_ids: Iterable[str]) -> Read[dict[str, AccessRequest]]:
        """`lock_requests` as a `Read` (to share a round trip)."""
        return Read(
            self._lock_requests,
            {"ids": sorted(set(request_ids))},
            lambda rows: {row.request_id: _to_request(row) for row in rows},
        )

    def lock_requests_and_activity_read(
        self, request_ids: Iterable[str]
    ) -> Read[tuple[dict[str, AccessRequest], dict[str, bool]]]:
        """`lock_requests`, plus whether each requester is active (True when identity-sync has not
        reported them), by requester id."""

        def decode(rows: list[Any]) -> tuple[dict[str, AccessRequest], dict[str, bool]]:
            requests = {row.request_id: _to_request(row) for row in rows}
            active = {row.requester_id: row.requester_active is not False for row in rows}
            return requests, active

        return Read(self._lock_requests, {"ids": sorted(set(request_ids))}, decode)

    def _select_requests(self) -> sa.Select[Any]:
        q, v = self.requests, self.flow_versions
        return sa.select(q, v.c.document.label("flow_document")).join(v, v.c.digest == q.c.flow_digest)

    async def lock_open_requests(
        self, session: AsyncSession, requesters: Collection[str] = ()
    ) -> OpenRequests:
        """Every request with an approval step open, and every unfinished request of `requesters`,
        locked until the transaction ends, so no step or grant moves meanwhile.

        One statement, so the locks are taken in one order, request id, as every batch takes them.
        Two statements (the open steps, then a leaving requester's requests) could each lock rows the
        other's order takes later, and deadlock with a request batch that holds one of each."""
        q = self.requests
        awaiting = awaiting_review(q)
        wanted = awaiting
        leaving = set(requesters)
        if leaving:
            unfinished = q.c.state.not_in(sorted(state.value for state in FINAL))
            wanted = sa.or_(awaiting, sa.and_(q.c.requester_id.in_(sorted(leaving)), unfinished))
        rows = await session.execute(
            self._select_requests()
            .add_columns(awaiting.label("awaiting"))
            .where(wanted)
            .order_by(q.c.request_id)
            .with_for_update(of=q)
        )
        found = OpenRequests({}, {})
        for row in rows:
            request = _to_request(row)
            if row.awaiting:
                found.awaiting[request.request_id] = request
            if request.requester_id in leaving:  # unfinished: an open step, or the filter above
                found.of_requester.setdefault(request.requester_id, []).append(request)
        return found

    async def save_requests(self, uow: UnitOfWork, requests: Iterable[AccessRequest]) -> None:
        """Write the requests a handler changed, with the unit's commit (same round trip): new ones by
        a plain INSERT (a request id that exists already, because another replica raced us to it,
        fails the commit, so the batch is retried and then finds the row and treats the event as a
        reused id), changed ones by an upsert; each one statement from arrays, whatever the count."""
        changed = list(requests)
        if not changed:
            return
        # Each flow version is stored once; requests point at the version they were created under.
        # Versions are never deleted, so one this process saw committed need not be written again
        # (a round trip per transaction saved); the set is only updated once the commit succeeded.
        versions = {
            r.flow_digest: r.flow_document for r in changed if r.flow_digest not in self._stored_versions
        }
        if versions:
            await uow.session.execute(
                insert(self.flow_versions).on_conflict_do_nothing(),
                [{"digest": d, "document": doc} for d, doc in versions.items()],
            )
            event.listen(
                uow.session.sync_session,
                "after_commit",
                lambda _session: self._stored_versions.update(versions),
                once=True,
            )
        fresh = [_to_row(r) for r in changed if r.new]
        existing = [_to_row(r) for r in changed if not r.new]
        for request in changed:
            request.new = False
        for rows, upsert in ((fresh, False), (existing, True)):
            if rows:
                columns = tuple(rows[0])
                uow.write_at_commit(
                    self._insert_requests(columns, upsert), array_params(self.requests, rows, columns)
                )

    @functools.lru_cache(maxsize=8)  # noqa: B019 - one store per process; a handful of column sets
    def _insert_requests(self, columns: tuple[str, ...], upsert: bool) -> str:
        if not upsert:
            return insert_from_arrays(self.requests, columns)
        keep = {"request_id", "created_at"}
        updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in keep)
        return insert_from_arrays(
            self.requests, columns, f" ON CONFLICT (request_id) DO UPDATE SET {updates}, updated_at = now()"
        )


def _people_by_id_and_email(joined: list[Any]) -> dict[str, Person]:
    rows = list({r.user_id: r for r in joined}.values())
    groups: dict[str, list[tuple[str, str, bool]]] = {}
    for r in joined:
        if r.member_of is not None:
            groups.setdefault(r.user_id, []).append((r.member_of, r.member_of_name, r.member_of_name_shared))
    out: dict[str, Person] = {}
    for r in rows:
        mine = groups.get(r.user_id, [])
        person = Person(
            user_id=r.user_id,
            email=r.email,
            active=r.active,
            manager_id=r.manager_id,
            group_ids=frozenset(group_id for group_id, _, _ in mine),
            group_names=tuple(sorted({n for _, n, shared in mine if not shared})),
            shared_group_names=frozenset(n for _, n, shared in mine if shared),
        )
        out[r.user_id] = person
        if r.email:
            key = email_key(r.email)
            other = out.get(key)
            if other is None and shared_email_key(r.email) not in out:
                out[key] = person
            elif other is not None and other.user_id != person.user_id:
                # Two synced users with one email: an email names neither (find_person says why).
                del out[key]
                out[shared_email_key(r.email)] = person
    return out


def _resources_by_key(rows: list[Any]) -> dict[tuple[str, str], Resource]:
    out: dict[tuple[str, str], Resource] = {}
    for row in rows:
        resource = Resource(
            integration_id=row.integration_id,
            resource_id=row.resource_id,
            name=row.name,
            resource_type=row.resource_type,
            connector_id=row.connector_id,
            permissions=tuple(row.permissions),
            owner_ids=frozenset(row.owner_ids),
            tags=dict(row.tags),
        )
        out.setdefault((row.integration_id, row.name), resource)
        out[(row.integration_id, row.resource_id)] = resource  # an id beats a name
    return out


def _pair_arrays(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """(integration, key) pairs as the two parallel arrays the resource statements take."""
    return {"integrations": [i for i, _ in pairs], "keys": [k for _, k in pairs]}


def _to_row(r: AccessRequest) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "state": r.state.value,
        "requester_id": r.requester_id,
        "requester_email": r.requester_email,
        "integration_id": r.integration_id,
        "connector_id": r.connector_id,
        "resource_id": r.resource_id,
        "resource_name": r.resource_name,
        "permission": r.permission,
        "duration_seconds": r.duration_seconds,
        "justification": r.justification,
        "flow_name": r.flow_name,
        "flow_digest": r.flow_digest,
        "steps": _steps_row(r.steps),
        "current_step": r.current_step,
        "approvals": _approvals_row(r.approvals),
        "approval_deadline": r.approval_deadline,
        "requester_public_key": r.requester_public_key,
        "expires_at": r.expires_at,
        "extended_seconds": r.extended_seconds,
        "revoke_attempt": r.revoke_attempt,
        "revoke_reason": r.revoke_reason,
        "last_command_id": r.last_command_id,
        "failure_reason": r.failure_reason,
        "pending_extension": _extension_row(r.pending_extension),
        "created_at": r.created_at,
    }


def _steps_row(steps: Iterable[ApprovalStep]) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True) for s in steps]


def _approvals_row(approvals: Iterable[ReviewRecord]) -> list[dict[str, Any]]:
    return [{"step": a.step, "reviewer_id": a.reviewer_id, "entries": list(a.entries)} for a in approvals]


def _approvals(rows: Iterable[dict[str, Any]]) -> list[ReviewRecord]:
    return [ReviewRecord(a["step"], a["reviewer_id"], tuple(a["entries"])) for a in rows]


def _extension_row(extension: PendingExtension | None) -> dict[str, Any] | None:
    if extension is None:
        return None
    return {
        "extra_seconds": extension.extra_seconds,
        "deadline": extension.deadline.isoformat(),
        "steps": _steps_row(extension.steps),
        "current_step": extension.current_step,
        "approvals": _approvals_row(extension.approvals),
    }


def _extension(row: dict[str, Any] | None) -> PendingExtension | None:
    if row is None:
        return None
    return PendingExtension(
        extra_seconds=row["extra_seconds"],
        deadline=datetime.fromisoformat(row["deadline"]),
        steps=[ApprovalStep.model_validate(s) for s in row["steps"]],
        current_step=row["current_step"],
        approvals=_approvals(row["approvals"]),
    )


def _to_request(row: Any) -> AccessRequest:
    return AccessRequest(
        request_id=row.request_id,
        state=GrantState(row.state),
        requester_id=row.requester_id,
        requester_email=row.requester_email,
        integration_id=row.integration_id,
        connector_id=row.connector_id,
        resource_id=row.resource_id,
        resource_name=row.resource_name,
        permission=row.permission,
        duration_seconds=row.duration_seconds,
        justification=row.justification,
        flow_name=row.flow_name,
        flow_document=row.flow_document,
        flow_digest=row.flow_digest,
        steps=[ApprovalStep.model_validate(s) for s in row.steps],
        created_at=row.created_at,
        current_step=row.current_step,
        approvals=_approvals(row.approvals),
        approval_deadline=row.approval_deadline,
        requester_public_key=row.requester_public_key,
        expires_at=row.expires_at,
        extended_seconds=row.extended_seconds,
        revoke_attempt=row.revoke_attempt,
        revoke_reason=row.revoke_reason,
        last_command_id=row.last_command_id,
        failure_reason=row.failure_reason,
        pending_extension=_extension(row.pending_extension),
    )
