"""PostgreSQL: privileges from templates, granted to an existing role or to a short-lived login role.

Template operations are `{sql: "..."}` with `{placeholders}`; every placeholder is bound through
`psycopg.sql` (identifiers as `Identifier`, other values as `Literal`), never formatted into text.
Implicit placeholders: `{grantee}` (the role receiving the access) and `{database}`, `{schema}`,
`{table}` from the command's resource (`table:appdb.public.orders`, `schema:appdb.public`, ...).

connection: host (required), port, dbname, databases, user, sslmode, connect_timeout, public_host
(docs/connector.md); `secret`: the connection user's password.

Two ways to grant:
- the template/command gives a `role` parameter: the privileges go to that existing role;
- otherwise a login role `lk_<user>_<hash of grant id>` is created (or reset) with a random password
  valid until the grant expires; its credentials are returned for the core to seal. The password
  reaches the server only as a SCRAM verifier computed client-side, so it is not in server logs.
"""

from __future__ import annotations

import hashlib
import re
import secrets as random_source
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from psycopg.errors import DuplicateObject, InvalidSchemaName, UndefinedObject, UndefinedTable

from latchkey.runtime.observability import get_logger

from ..templates import Template
from .base import (
    AccessSpec,
    GrantOutcome,
    Integration,
    IntegrationError,
    InventoryItem,
    RevokeOutcome,
    register,
)

log = get_logger(__name__)

IMPLICIT = ("grantee", "database", "schema", "table")
_LEVELS = {"database": 1, "schema": 2, "table": 3}
_NAME_PART = re.compile(r"[^\x00-\x1f.:\"]{1,63}")
"""One name of a resource id: what could be read as a separator (".", ":") or break quoting never is."""
_MISSING_TARGET = (UndefinedObject, UndefinedTable, InvalidSchemaName)


@dataclass(frozen=True)
class Target:
    database: str
    schema: str | None = None
    table: str | None = None


def parse_resource(resource: str) -> Target:
    """`database`, `schema:database.schema` or `table:database.schema.table` → Target. The type names
    how many parts there are, and no part holds a separator, so an id means one object only (a schema
    named "payments.sandbox" is not inventoried, and cannot be named, rather than read as another)."""
    kind, sep, path = resource.partition(":")
    if not sep:
        kind, path = "", resource
    parts = path.split(".")
    expected = _LEVELS.get(kind) if kind else None
    if (
        (kind and expected is None)
        or not 1 <= len(parts) <= 3
        or (expected is not None and len(parts) != expected)
        or not all(_NAME_PART.fullmatch(p) for p in parts)
    ):
        raise IntegrationError(
            f"resource {resource!r} is not database, schema:database.schema or table:database.schema.table"
        )
    return Target(*parts)


def _nameable(*names: str) -> bool:
    """Whether an object can have an id that names it alone; one that cannot is left out of the
    inventory (so no flow can match it, and no id of it can be read as another object's)."""
    if all(_NAME_PART.fullmatch(name) for name in names):
        return True
    log.warning(
        "object left out of the inventory: its name holds '.', ':', '\"' or a control character",
        object=".".join(names),
    )
    return False


def target_level(target: Target) -> str:
    return "table" if target.table is not None else "schema" if target.schema is not None else "database"


def template_level(template: Template) -> str:
    """The level a template acts on: the deepest of {database}, {schema}, {table} its grant uses."""
    used: set[str] = set()
    for operation in template.grant:
        used |= placeholders(operation["sql"])
    return max((lvl for lvl in _LEVELS if lvl in used), key=_LEVELS.__getitem__, default="database")


def placeholders(text: str) -> set[str]:
    names: set[str] = set()
    for _, field, spec, conversion in string.Formatter().parse(text):
        if field is None:
            continue
        if spec or conversion or not field.isidentifier():
            raise ValueError(f"placeholder {{{field}}} must be a plain name (no format spec or conversion)")
        names.add(field)
    return names


def login_role_name(user_id: str, grant_id: str) -> str:
    """Deterministic per grant, so a re-run after a crash finds the same role (idempotence)."""
    slug = re.sub(r"[^a-z0-9]", "", user_id.lower())[:20] or "user"
    return f"lk_{slug}_{hashlib.sha256(grant_id.encode()).hexdigest()[:12]}"


class _CommitFailed(Exception):
    """The grant's COMMIT failed: the server may have committed it (`error` says what was seen)."""

    def __init__(self, error: IntegrationError) -> None:
        super().__init__(str(error))
        self.error = error


@register
class PostgresIntegration(Integration):
    type: ClassVar[str] = "postgresql"
    connection_keys: ClassVar[frozenset[str]] = frozenset(
        {"host", "port", "dbname", "databases", "user", "sslmode", "connect_timeout", "public_host"}
    )
    # Without `host` it would try 127.0.0.1: in a connector's pod that is never the database.
    required_connection_keys: ClassVar[frozenset[str]] = frozenset({"host"})

    @classmethod
    def validate_operations(cls, template: Template) -> None:
        for phase in ("grant", "revoke", "rotate"):
            for index, operation in enumerate(getattr(template, phase)):
                if set(operation) != {"sql"} or not isinstance(operation["sql"], str):
                    raise ValueError(
                        f"{phase}[{index}]: a postgresql operation is exactly {{sql: <statement>}}"
                    )
                statement = operation["sql"]
                if ";" in statement:
                    raise ValueError(f"{phase}[{index}]: one statement per operation (no ';')")
                unknown = placeholders(statement) - set(IMPLICIT) - set(template.parameters)
                if unknown:
                    raise ValueError(
                        f"{phase}[{index}]: unknown placeholder(s) {sorted(unknown)}; use a template "
                        f"parameter or one of {list(IMPLICIT)}"
                    )

    # -- connection ---------------------------------------------------------------------------------
    @property
    def _conn_params(self) -> dict[str, Any]:
        c = self.config.connection
        return {
            "host": c.get("host", "127.0.0.1"),
            "port": int(c.get("port", 5432)),
            "user": c.get("user", "latchkey"),
            "sslmode": c.get("sslmode", "prefer"),
        }

    @property
    def databases(self) -> list[str]:
        """Databases this integration may touch: `connection.databases`, else just `connection.dbname`."""
        c = self.config.connection
        return [str(d) for d in c.get("databases", [c.get("dbname", "postgres")])]

    async def _connect(self, database: str | None = None) -> psycopg.AsyncConnection[Any]:
        params = self._conn_params
        dbname = database or self.databases[0]
        if dbname not in self.databases:
            raise IntegrationError(
                f"database {dbname!r} is not served by integration {self.config.id!r} "
                f"(connection.databases: {self.databases})"
            )
        if self.config.secret is None:
            raise IntegrationError(f"integration {self.config.id!r} has no `secret` to log in with")
        secret = await self.secrets.fetch(self.config.secret)  # per use, dropped when this returns
        try:
            return await psycopg.AsyncConnection.connect(
                dbname=dbname,
                password=secret.reveal(),
                connect_timeout=int(self.config.connection.get("connect_timeout", 10)),
                application_name="latchkey-connector",
                **params,
            )
        except psycopg.OperationalError as exc:
            text = str(exc).replace(secret.reveal(), "***") if secret.reveal() else str(exc)
            first = text.strip().splitlines()[-1][:300] if text.strip() else type(exc).__name__
            raise IntegrationError(
                f"cannot connect to postgresql {params['host']}:{params['port']}/{dbname}: {first}",
                retryable=True,
            ) from None

    # -- statements ---------------------------------------------------------------------------------
    def _bind(self, access: AccessSpec, grantee: str, target: Target) -> dict[str, sql.Composable]:
        values: dict[str, sql.Composable] = {"grantee": sql.Identifier(grantee)}
        values["database"] = sql.Identifier(target.database)
        if target.schema is not None:
            values["schema"] = sql.Identifier(target.schema)
        if target.table is not None:
            values["table"] = sql.Identifier(target.table)
        for name, value in access.parameters.items():
            spec = access.template.parameters[name]
            values[name] = sql.Identifier(value) if spec.type == "identifier" else sql.Literal(value)
        return values

    def _statements(
        self, operations: Iterable[dict[str, Any]], values: dict[str, sql.Composable], template: Template
    ) -> list[sql.Composed]:
        statements = []
        for operation in operations:
            needed = placeholders(operation["sql"])
            missing = needed - set(values)
            if missing:
                raise IntegrationError(
                    f"template {template.name!r} needs {sorted(missing)}, which the resource or "
                    "parameters do not give (e.g. a schema template on a database resource)"
                )
            statements.append(sql.SQL(operation["sql"]).format(**{k: values[k] for k in needed}))
        return statements

    def _grantee(self, access: AccessSpec) -> tuple[str, bool]:
        """(role name, whether it is a Latchkey-issued login role)."""
        role = access.parameters.get("role")
        if role:
            return role, False
        return login_role_name(access.principal.user_id, access.grant_id), True

    @staticmethod
    def _verifier(conn: psycopg.AsyncConnection[Any], role: str, password: str) -> str:
        return conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()

    # -- operations ---------------------------------------------------------------------------------
    async def grant(self, access: AccessSpec) -> GrantOutcome:
        # One transaction: a failure before COMMIT rolls everything back, so only a failed COMMIT
        # (or a timeout) leaves it unknown whether the grant took effect.
        try:
            return await self._grant(access)
        except _CommitFailed as failed:
            raise failed.error from None
        except IntegrationError as exc:
            exc.may_have_applied = False
            raise

    async def _grant(self, access: AccessSpec) -> GrantOutcome:
        target = parse_resource(access.resource)
        level = template_level(access.template)
        if level != target_level(target):
            # e.g. a schema-wide template asked for on one table would grant the whole schema
            raise IntegrationError(
                f"template {access.template.name!r} acts on a {level}; {access.resource!r} is a "
                f"{target_level(target)}"
            )
        grantee, issued = self._grantee(access)
        if issued and not access.requester_public_key:
            raise IntegrationError(
                f"template {access.template.name!r} without a `role` parameter issues a login; "
                "the command must carry requester_public_key"
            )
        password = random_source.token_urlsafe(24) if issued else None
        values = self._bind(access, grantee, target)
        statements = self._statements(access.template.grant, values, access.template)
        conn = await self._connect(target.database)
        committing = False
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (grantee,))
                # GRANTs on one schema or database rewrite the same catalog row (its ACL): concurrent
                # ones fail with "tuple concurrently updated". Grants to one target take turns.
                await self._lock_target(conn, target)
                exists = await self._role_exists(conn, grantee)
                if not issued and not exists:
                    raise IntegrationError(f"role {grantee!r} does not exist in {target.database}")
                if issued:
                    assert password is not None and access.expires_at is not None
                    options = sql.SQL("LOGIN NOINHERIT PASSWORD {} VALID UNTIL {}").format(
                        sql.Literal(self._verifier(conn, grantee, password)),
                        sql.Literal(access.expires_at.isoformat()),
                    )
                    verb = "ALTER ROLE" if exists else "CREATE ROLE"
                    await conn.execute(sql.SQL(verb + " {} ").format(sql.Identifier(grantee)) + options)
                for statement in statements:
                    await conn.execute(statement)
                committing = True
        except DuplicateObject:
            # Another replica created the role between our check and CREATE: the re-run is idempotent.
            raise IntegrationError(
                f"role {grantee!r} was created concurrently; retry", retryable=True
            ) from None
        except psycopg.Error as exc:
            error = self._error(exc, "grant")
            raise (_CommitFailed(error) if committing else error) from None
        finally:
            await conn.close()
        log.info("postgresql access granted", role=grantee, issued_login=issued, resource=access.resource)
        if not issued:
            return GrantOutcome()
        assert password is not None and access.expires_at is not None
        params = self._conn_params
        return GrantOutcome(
            credentials={
                "host": str(self.config.connection.get("public_host", params["host"])),
                "port": str(params["port"]),
                "database": target.database,
                "user": grantee,
                "password": password,
                "expires_at": access.expires_at.isoformat(),
            }
        )

    async def revoke(self, access: AccessSpec) -> RevokeOutcome:
        target = parse_resource(access.resource)
        grantee, issued = self._grantee(access)
        values = self._bind(access, grantee, target)
        statements = self._statements(access.template.revoke, values, access.template)
        conn = await self._connect(target.database)
        try:
            await conn.set_autocommit(True)
            if not await self._role_exists(conn, grantee):
                return RevokeOutcome(rotated=issued)  # already revoked (or never granted)
            if issued:
                # First: no new sessions, and the password no longer works even if dropping fails.
                password = random_source.token_urlsafe(24)
                await conn.execute(
                    sql.SQL("ALTER ROLE {} NOLOGIN PASSWORD {}").format(
                        sql.Identifier(grantee), sql.Literal(self._verifier(conn, grantee, password))
                    )
                )
            async with conn.transaction():
                await self._lock_target(conn, target)
                for statement in statements:
                    try:
                        async with conn.transaction():  # a savepoint: a missing object spoils nothing
                            await conn.execute(statement)
                    except _MISSING_TARGET:
                        pass  # the schema/table is gone, so is the privilege on it
            terminated = await self._terminate_sessions(conn, grantee)
            dropped = False
            if issued:
                try:
                    async with conn.transaction():
                        await conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(grantee)))
                        await conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(grantee)))
                    dropped = True
                except psycopg.errors.DependentObjectsStillExist:
                    log.warning("login role kept disabled: it holds privileges elsewhere", role=grantee)
        except psycopg.Error as exc:
            raise self._error(exc, "revoke") from None
        finally:
            await conn.close()
        log.info(
            "postgresql access revoked",
            role=grantee,
            issued_login=issued,
            sessions_terminated=terminated,
            role_dropped=dropped,
        )
        return RevokeOutcome(rotated=issued)

    async def rotate(self, access: AccessSpec) -> None:
        target = parse_resource(access.resource)
        grantee, issued = self._grantee(access)
        if not issued:
            # Latchkey never changes the password of a role the organisation manages.
            log.info("rotate skipped: role is organisation-managed", role=grantee)
            return
        conn = await self._connect(target.database)
        try:
            await conn.set_autocommit(True)
            if not await self._role_exists(conn, grantee):
                return
            password = random_source.token_urlsafe(32)  # nobody receives it
            await conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(grantee), sql.Literal(self._verifier(conn, grantee, password))
                )
            )
            for statement in self._statements(
                access.template.rotate, self._bind(access, grantee, target), access.template
            ):
                await conn.execute(statement)
        except psycopg.Error as exc:
            raise self._error(exc, "rotate") from None
        finally:
            await conn.close()
        log.info("postgresql credential rotated", role=grantee)

    async def sync_inventory(self) -> list[InventoryItem]:
        dbname = self.databases[0]
        allowed = [t for t in self.templates.for_type(self.type) if t.name in self.config.templates]
        by_level: dict[str, list[str]] = {"database": [], "schema": [], "table": []}
        for template in allowed:
            by_level[template_level(template)].append(template.name)
        conn = await self._connect(dbname)
        items: list[InventoryItem] = []
        try:
            async with conn.cursor() as cur:
                await cur.execute(
                    "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
                    "WHERE NOT datistemplate AND datallowconn ORDER BY 1"
                )
                for name, owner in await cur.fetchall():
                    if _nameable(name):
                        items.append(self._item("database", name, name, by_level, owner, dbname))
                await cur.execute(
                    "SELECT nspname, pg_get_userbyid(nspowner) FROM pg_namespace "
                    "WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY 1"
                )
                for name, owner in await cur.fetchall():
                    if _nameable(dbname, name):
                        items.append(self._item("schema", f"{dbname}.{name}", name, by_level, owner, dbname))
                await cur.execute(
                    "SELECT schemaname, tablename, tableowner FROM pg_tables "
                    "WHERE schemaname !~ '^pg_' AND schemaname <> 'information_schema' ORDER BY 1, 2"
                )
                for schema, table, owner in await cur.fetchall():
                    if _nameable(dbname, schema, table):
                        items.append(
                            self._item("table", f"{dbname}.{schema}.{table}", table, by_level, owner, dbname)
                        )
                await cur.execute(
                    "SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname !~ '^pg_' ORDER BY 1"
                )
                for name, can_login in await cur.fetchall():
                    items.append(
                        InventoryItem(
                            resource_id=f"role:{name}",
                            resource_type="role",
                            name=name,
                            permissions=[],
                            tags={"login": str(bool(can_login)).lower()},
                        )
                    )
        except psycopg.Error as exc:
            raise self._error(exc, "inventory") from None
        finally:
            await conn.close()
        return items

    # -- small pieces -------------------------------------------------------------------------------
    @staticmethod
    def _item(
        kind: str, path: str, name: str, by_level: dict[str, list[str]], owner: str, dbname: str
    ) -> InventoryItem:
        applies = kind == "database" and path != dbname
        return InventoryItem(
            resource_id=f"{kind}:{path}",
            resource_type=kind,
            name=name,
            permissions=[] if applies else list(by_level[kind]),
            owner_ids=[owner],
            tags={"owner_role": owner},
        )

    @staticmethod
    async def _role_exists(conn: psycopg.AsyncConnection[Any], role: str) -> bool:
        cur = await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,))
        return await cur.fetchone() is not None

    @staticmethod
    async def _terminate_sessions(conn: psycopg.AsyncConnection[Any], role: str) -> int:
        cur = await conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE usename = %s AND pid <> pg_backend_pid()",
            (role,),
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    async def _lock_target(conn: psycopg.AsyncConnection[Any], target: Target) -> None:
        """Serialise privilege changes on one database/schema (held until the transaction ends)."""
        key = ".".join(p for p in (target.database, target.schema) if p)
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"latchkey-acl:{key}",))

    @staticmethod
    def _error(exc: psycopg.Error, phase: str) -> IntegrationError:
        # Server messages name objects, never our password (it only ever travels as a verifier).
        message = exc.diag.message_primary if exc.diag and exc.diag.message_primary else type(exc).__name__
        retryable = isinstance(exc, psycopg.OperationalError | psycopg.errors.SerializationFailure) or (
            message == "tuple concurrently updated"  # a catalog race (XX000): the retry succeeds
        )
        return IntegrationError(f"postgresql {phase} failed: {message}", retryable=retryable)
