"""PostgreSQL integration against the real server: real privileges appear, then disappear, twice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from nacl.public import PrivateKey, SealedBox

from latchkey.connector.config import ConnectorConfig, load_config
from latchkey.connector.domain.replay import ExecutedCommands
from latchkey.connector.integrations import REGISTRY, IntegrationError, load_builtin_integrations
from latchkey.connector.integrations.base import AccessSpec
from latchkey.connector.integrations.postgresql import PostgresIntegration, login_role_name
from latchkey.connector.processor import CommandProcessor
from latchkey.connector.secrets import SecretResolver
from latchkey.contracts import CommandApplied, Principal, utcnow
from latchkey.runtime.signing import CommandVerifier

from .conftest import CommandFactory, write_config
from .test_config_and_templates import INJECTIONS

pytestmark = pytest.mark.infra


def _parts(database_url: str) -> dict[str, Any]:
    url = urlsplit(database_url.replace("postgresql+psycopg://", "postgresql://"))
    return {
        "host": url.hostname,
        "port": url.port or 5432,
        "user": url.username,
        "password": url.password,
        "dbname": url.path.lstrip("/"),
    }


@pytest.fixture
async def appdb(database_url: str) -> AsyncIterator[dict[str, Any]]:
    """The target: a fresh database with a `sales` schema, two tables and an owner role."""
    params = _parts(database_url)
    suffix = uuid.uuid4().hex[:8]
    owner, analyst = f"sales_owner_{suffix}", f"analyst_{suffix}"
    async with await psycopg.AsyncConnection.connect(autocommit=True, **params) as conn:
        await conn.execute(f"CREATE ROLE {owner} NOLOGIN")
        await conn.execute(f"CREATE ROLE {analyst} NOLOGIN")
        await conn.execute(f"CREATE SCHEMA sales AUTHORIZATION {owner}")
        await conn.execute("CREATE TABLE sales.orders (id serial PRIMARY KEY, amount int)")
        await conn.execute("CREATE TABLE sales.accounts (id int)")
        await conn.execute("INSERT INTO sales.orders (amount) VALUES (10), (20)")
        await conn.execute(f"ALTER TABLE sales.orders OWNER TO {owner}")
    yield {**params, "owner": owner, "analyst": analyst}
    async with await psycopg.AsyncConnection.connect(autocommit=True, **params) as conn:
        await conn.execute("DROP SCHEMA sales CASCADE")
        for role in (owner, analyst):
            await conn.execute(f"DROP OWNED BY {role}")
            await conn.execute(f"DROP ROLE {role}")


@pytest.fixture
def pg_config(
    tmp_path: Path, control_plane_key: str, appdb: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> ConnectorConfig:
    monkeypatch.setenv("LK_TEST_APPDB_PASSWORD", appdb["password"])
    connection = {k: appdb[k] for k in ("host", "port", "user", "dbname")}
    integration = {
        "id": "bench",  # make_command's default integration id
        "type": "postgresql",
        "connection": connection,
        "secret": "env://LK_TEST_APPDB_PASSWORD",
        "templates": ["readonly", "readwrite", "owner"],
    }
    return load_config(write_config(tmp_path, control_plane_key, [integration]))


def integration_of(config: ConnectorConfig) -> PostgresIntegration:
    load_builtin_integrations({"postgresql"})
    cfg = config.integrations["bench"]
    made = REGISTRY["postgresql"](cfg, SecretResolver.default(), config.templates)
    assert isinstance(made, PostgresIntegration)
    return made


def access(config: ConnectorConfig, template: str, resource: str, **parameters: str) -> AccessSpec:
    return AccessSpec(
        grant_id=str(uuid.uuid4()),
        template=config.templates.templates[("postgresql", template)],
        resource=resource,
        parameters=parameters,
        principal=Principal(user_id="alice@example.com"),
        expires_at=utcnow() + timedelta(hours=1),
        requester_public_key=base64.b64encode(bytes(PrivateKey.generate().public_key)).decode(),
    )


async def as_admin(appdb: dict[str, Any], query: str, *args: Any) -> Any:
    params = {k: appdb[k] for k in ("host", "port", "user", "password", "dbname")}
    async with await psycopg.AsyncConnection.connect(autocommit=True, **params) as conn:
        cur = await conn.execute(query, args or None)
        return await cur.fetchone()


async def password_matches(appdb: dict[str, Any], role: str, password: str) -> bool:
    """Check `password` against the role's SCRAM verifier (the test server trusts loopback logins,
    so connecting would not prove anything about the password)."""
    row = await as_admin(appdb, "SELECT rolpassword FROM pg_authid WHERE rolname = %s", role)
    if row is None or row[0] is None:
        return False
    mechanism, params, keys = row[0].split("$")
    assert mechanism == "SCRAM-SHA-256"  # never plaintext or md5 at rest
    iterations, salt = params.split(":")
    stored_key = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


async def test_login_grant_gives_exactly_select_and_revoke_takes_it_away_twice(
    pg_config: ConnectorConfig, appdb: dict[str, Any]
) -> None:
    postgres = integration_of(pg_config)
    spec = access(pg_config, "readonly", f"schema:{appdb['dbname']}.sales")
    for _round in range(2):
        outcome = await postgres.grant(spec)
        again = await postgres.grant(spec)  # idempotent: same role, fresh password
        creds = again.credentials
        assert (
            outcome.credentials
            and creds
            and creds["user"] == login_role_name("alice@example.com", spec.grant_id)
        )
        assert await password_matches(appdb, creds["user"], creds["password"])
        assert not await password_matches(appdb, creds["user"], outcome.credentials["password"])
        valid_until = await as_admin(
            appdb, "SELECT rolvaliduntil FROM pg_roles WHERE rolname = %s", creds["user"]
        )
        assert valid_until == (spec.expires_at,)
        login = {"host": creds["host"], "port": int(creds["port"]), "dbname": creds["database"]}
        async with await psycopg.AsyncConnection.connect(
            user=creds["user"], password=creds["password"], autocommit=True, **login
        ) as session:
            rows = await (await session.execute("SELECT sum(amount) FROM sales.orders")).fetchone()
            assert rows == (30,)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await session.execute("INSERT INTO sales.orders (amount) VALUES (1)")
            assert await as_admin(
                appdb, "SELECT has_table_privilege(%s, 'sales.orders', 'SELECT')", creds["user"]
            ) == (True,)
            revoked = await postgres.revoke(spec)
            assert revoked.rotated
            # The open session was terminated by the revoke.
            with pytest.raises(psycopg.OperationalError):
                await session.execute("SELECT 1 FROM sales.orders")
        assert await as_admin(appdb, "SELECT count(*) FROM pg_roles WHERE rolname = %s", creds["user"]) == (
            0,
        )
        assert (await postgres.revoke(spec)).rotated  # already revoked = success
        with pytest.raises(psycopg.OperationalError):  # the role is gone
            await psycopg.AsyncConnection.connect(user=creds["user"], password=creds["password"], **login)


async def test_grant_to_existing_role_and_revoke_twice(
    pg_config: ConnectorConfig, appdb: dict[str, Any]
) -> None:
    postgres = integration_of(pg_config)
    analyst = appdb["analyst"]
    spec = access(pg_config, "readwrite", f"schema:{appdb['dbname']}.sales", role=analyst)
    check = (
        "SELECT has_table_privilege(%s, 'sales.orders', 'INSERT'),"
        " has_table_privilege(%s, 'sales.accounts', 'DELETE')"
    )
    for _round in range(2):
        assert (await postgres.grant(spec)).credentials is None
        assert await as_admin(appdb, check, analyst, analyst) == (True, True)
        revoked = await postgres.revoke(spec)
        assert not revoked.rotated
        assert await as_admin(appdb, check, analyst, analyst) == (False, False)
        await postgres.revoke(spec)
        assert await as_admin(appdb, "SELECT count(*) FROM pg_roles WHERE rolname = %s", analyst) == (1,)


async def test_owner_membership_and_rotation(pg_config: ConnectorConfig, appdb: dict[str, Any]) -> None:
    postgres = integration_of(pg_config)
    spec = access(pg_config, "owner", appdb["dbname"], owner_role=appdb["owner"])
    creds = (await postgres.grant(spec)).credentials
    assert creds
    member = "SELECT pg_has_role(%s, %s, 'MEMBER')"
    assert await as_admin(appdb, member, creds["user"], appdb["owner"]) == (True,)
    assert await password_matches(appdb, creds["user"], creds["password"])
    await postgres.rotate(spec)
    assert not await password_matches(appdb, creds["user"], creds["password"])  # nobody knows the new one
    await postgres.revoke(spec)
    assert await as_admin(appdb, "SELECT count(*) FROM pg_roles WHERE rolname = %s", creds["user"]) == (0,)


@pytest.mark.parametrize("evil", INJECTIONS[:6])
async def test_injection_strings_in_every_parameter_stay_identifiers(
    pg_config: ConnectorConfig, appdb: dict[str, Any], evil: str
) -> None:
    """Even bypassing template validation, values reach SQL only as quoted identifiers."""
    postgres = integration_of(pg_config)
    db = appdb["dbname"]
    attempts = [
        access(pg_config, "readonly", f"schema:{db}.sales", role=evil),
        access(pg_config, "owner", db, owner_role=evil),
        access(pg_config, "readonly", f"schema:{db}.{evil}"),
        access(pg_config, "readonly", f"schema:{evil}.sales"),
    ]
    for spec in attempts:
        with pytest.raises(IntegrationError):
            await postgres.grant(spec)
        try:
            await postgres.revoke(spec)  # nothing to revoke: success, and no statement misfires
        except IntegrationError as exc:  # refused before any SQL ran: also fine
            assert any(m in str(exc) for m in ("is not database", "DataError", "is not served")), exc
    assert await as_admin(appdb, "SELECT count(*) FROM sales.orders") == (2,)
    assert await as_admin(appdb, "SELECT count(*) FROM sales.accounts") == (0,)
    assert await as_admin(appdb, "SELECT has_table_privilege('public', 'sales.orders', 'SELECT')") == (False,)


async def test_inventory_lists_schemas_tables_roles_and_owners(
    pg_config: ConnectorConfig, appdb: dict[str, Any]
) -> None:
    items = {i.resource_id: i for i in await integration_of(pg_config).sync_inventory()}
    db = appdb["dbname"]
    schema = items[f"schema:{db}.sales"]
    assert schema.owner_ids == [appdb["owner"]] and set(schema.permissions) == {"readonly", "readwrite"}
    assert items[f"table:{db}.sales.orders"].owner_ids == [appdb["owner"]]
    assert items[f"database:{db}"].permissions == ["owner"]
    assert items[f"role:{appdb['analyst']}"].resource_type == "role"
    # Names and metadata only: no row data anywhere.
    assert "amount" not in json.dumps([i.__dict__ for i in items.values()])


async def test_a_resource_id_names_one_object_at_the_level_its_template_acts_on(
    pg_config: ConnectorConfig, appdb: dict[str, Any]
) -> None:
    """A schema whose name holds a "." could be read as another schema's table: it is left out of the
    inventory, and no id with a separator in a name, or with more or fewer names than its type has, is
    accepted. A schema-wide template asked for on one table is refused rather than granting the
    whole schema."""
    db = appdb["dbname"]
    admin = {k: appdb[k] for k in ("host", "port", "user", "password", "dbname")}
    who_may_use_sales = (
        "SELECT array_agg(rolname ORDER BY rolname) FROM pg_roles "
        "WHERE has_schema_privilege(oid, 'sales', 'USAGE')"
    )
    before = await as_admin(appdb, who_may_use_sales)
    async with await psycopg.AsyncConnection.connect(autocommit=True, **admin) as conn:
        await conn.execute('CREATE SCHEMA "sales.sandbox"')
        await conn.execute('CREATE TABLE "sales.sandbox".t (id int)')
    try:
        items = {i.resource_id for i in await integration_of(pg_config).sync_inventory()}
        assert not [i for i in items if "sandbox" in i], items
        assert f"table:{db}.sales.orders" in items

        postgres = integration_of(pg_config)
        for resource in (
            f"schema:{db}.sales.sandbox",  # three names for a schema
            f"table:{db}.sales",  # two for a table
            f"table:{db}.public.x:{db}.sales.orders",  # a ":" inside a name
            f"role:{appdb['analyst']}",  # not something a grant acts on
        ):
            with pytest.raises(IntegrationError, match=r"is not database, schema:database\.schema or table"):
                await postgres.grant(access(pg_config, "readonly", resource))
        with pytest.raises(IntegrationError, match=r"acts on a schema; .* is a table"):
            await postgres.grant(access(pg_config, "readonly", f"table:{db}.sales.orders"))
        assert await as_admin(appdb, who_may_use_sales) == before, "nobody was granted the schema"
    finally:
        async with await psycopg.AsyncConnection.connect(autocommit=True, **admin) as conn:
            await conn.execute('DROP SCHEMA "sales.sandbox" CASCADE')


async def test_processor_seals_postgres_login_for_the_requester(
    pg_config: ConnectorConfig, appdb: dict[str, Any], make_command: CommandFactory
) -> None:
    postgres = integration_of(pg_config)
    processor = CommandProcessor(
        pg_config, {"bench": postgres}, CommandVerifier(pg_config.public_keys), ExecutedCommands(3600)
    )
    requester = PrivateKey.generate()
    command = make_command(
        "grant",
        template="readonly",
        resource=f"schema:{appdb['dbname']}.sales",
        requester_public_key=base64.b64encode(bytes(requester.public_key)).decode(),
    )
    result = (await processor.process(command, "t:0:0")).result
    assert isinstance(result, CommandApplied) and result.sealed_credentials
    creds = json.loads(SealedBox(requester).decrypt(base64.b64decode(result.sealed_credentials)))
    assert creds["password"] not in result.model_dump_json()
    async with await psycopg.AsyncConnection.connect(
        host=creds["host"],
        port=int(creds["port"]),
        dbname=creds["database"],
        user=creds["user"],
        password=creds["password"],
    ) as session:
        assert await (await session.execute("SELECT count(*) FROM sales.orders")).fetchone() == (2,)
    revoke = make_command("revoke", template="readonly", resource=command.resource, grant_id=command.grant_id)
    applied = (await processor.process(revoke, "t:0:1")).result
    assert isinstance(applied, CommandApplied) and applied.credential_rotated
