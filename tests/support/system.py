"""The whole Latchkey system wired together on loopback, as an operator would deploy it:

- one topic prefix (an isolated "environment" on a shared broker) and one database for the control
  plane (each service migrates its own schema in it);
- a target PostgreSQL database (`appdb_<random>`) with real tables that the connector grants on;
- a fresh Ed25519 command-signing key (private half to flow-engine, public half in connector.yaml);
- the test OIDC issuer (runtime.testing.oidc) that mints the requesters' and reviewers' ID tokens;
- identity-sync with the file provider (examples/identity/directory.yaml by default).

`LatchkeySystem.specs()` gives the `ServiceSpec`s; `tests.support.processes` runs them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import yaml
from nacl.public import PrivateKey, SealedBox
from psycopg import sql

from latchkey.contracts import AccessFlowUpserted, canonical_json
from latchkey.runtime.signing import generate_private_key, load_private_key, public_key_of
from latchkey.runtime.testing import create_database, drop_database, libpq_url

from .processes import ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "services" / "connector" / "templates"
DIRECTORY = ROOT / "examples" / "identity" / "directory.yaml"

APPDB_SCHEMA = """
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric(10, 2));
INSERT INTO customers (name) VALUES ('Ada'), ('Grace'), ('Linus');
INSERT INTO orders (customer_id, total) VALUES (1, 12.50), (2, 99.00), (3, 7.25);
"""


@dataclass
class Requester:
    """A person asking for access: their directory id/email and the X25519 key credentials are sealed to."""

    user_id: str
    email: str
    private_key: PrivateKey = field(default_factory=PrivateKey.generate)

    @property
    def public_key(self) -> str:
        return base64.b64encode(bytes(self.private_key.public_key)).decode()

    def open_sealed(self, sealed: str) -> dict[str, str]:
        """Decrypt credentials sealed to this requester (a libsodium sealed box, as the connector makes)."""
        plaintext = SealedBox(self.private_key).decrypt(base64.b64decode(sealed))
        return dict(json.loads(plaintext))


def connect_with(credentials: dict[str, str]) -> psycopg.Connection[Any]:
    """A session on the target database with the credentials a grant issued (autocommit)."""
    return psycopg.connect(
        host=credentials["host"],
        port=int(credentials["port"]),
        dbname=credentials["database"],
        user=credentials["user"],
        password=credentials["password"],
        connect_timeout=5,
        autocommit=True,
    )


@dataclass
class TargetDatabase:
    """The database the connector manages access to, with real tables."""

    admin_url: str  # libpq form, superuser, server-level
    name: str

    @property
    def host(self) -> str:
        return urlsplit(self.admin_url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.admin_url).port or 5432

    @property
    def admin_user(self) -> str:
        return urlsplit(self.admin_url).username or "latchkey"

    @property
    def admin_password(self) -> str:
        return urlsplit(self.admin_url).password or ""

    def connect(
        self, *, user: str | None = None, password: str | None = None, **kw: Any
    ) -> psycopg.Connection[Any]:
        """A connection to the target database (as the admin unless `user`/`password` are given)."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=self.name,
            user=user or self.admin_user,
            password=password if user else self.admin_password,
            connect_timeout=5,
            autocommit=True,
            **kw,
        )

    def create(self) -> TargetDatabase:
        create_database(self.admin_url, self.name)
        with self.connect() as conn:
            conn.execute(APPDB_SCHEMA)
        return self

    def drop(self) -> None:
        drop_database(self.admin_url, self.name)

    def granted_login_roles(self) -> list[str]:
        """Latchkey login roles (lk_*) that were granted CONNECT on this database."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT DISTINCT r.rolname FROM pg_database d, aclexplode(d.datacl) a "
                "JOIN pg_roles r ON r.oid = a.grantee WHERE d.datname = %s AND r.rolname LIKE 'lk\\_%%'",
                (self.name,),
            ).fetchall()
        return [r[0] for r in rows]

    def login_roles(self, prefix: str = "lk_") -> list[str]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)
            ).fetchall()
        return [r[0] for r in rows]


@dataclass
class LatchkeySystem:
    """Configuration of one running system; `prepare()` writes files and creates the databases."""

    kafka_bootstrap: str
    database_url: str  # SQLAlchemy form of the control plane's database
    admin_database_url: str  # libpq superuser URL on the same server (target db is created there)
    topic_prefix: str
    work_dir: Path
    oidc_issuer: str = ""
    oidc_audience: str = "latchkey"
    connector_id: str = "acme"
    integration_id: str = "appdb"
    noop_integration_id: str = "noop"
    directory_file: Path = DIRECTORY
    signing_key: str = field(default_factory=generate_private_key)
    connector_replicas: int = 1
    target: TargetDatabase | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    noop_resources: list[str] = field(default_factory=lambda: ["noop-resource"])
    # (user, password) the connector logs in to the target with; None: the server's admin. A distinct,
    # random password makes it a canary the security suite searches for everywhere.
    target_login: tuple[str, str] | None = None
    noop_delay_ms: int = 0  # each call of the noop target takes this long (a slow target)

    @property
    def public_key(self) -> str:
        return public_key_of(load_private_key(self.signing_key))

    @property
    def log_dir(self) -> Path:
        # LATCHKEY_TEST_LOGS keeps service logs somewhere that outlives pytest's temporary folders.
        keep = os.environ.get("LATCHKEY_TEST_LOGS")
        return Path(keep) / self.topic_prefix.strip(".") if keep else self.work_dir / "logs"

    @property
    def noop_journal(self) -> Path:
        return self.work_dir / "noop-journal.log"

    def prepare(self, *, with_target: bool = True) -> LatchkeySystem:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if with_target and self.target is None:
            self.target = TargetDatabase(
                libpq_url(self.admin_database_url), f"appdb_{secrets.token_hex(4)}"
            ).create()
            if self.target_login is not None:
                user, password = self.target_login
                with psycopg.connect(libpq_url(self.admin_database_url), autocommit=True) as conn:
                    conn.execute(
                        sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                            sql.Identifier(user), sql.Literal(password)
                        )
                    )
        self.write_connector_config()
        return self

    def cleanup(self, login_roles: list[str] = ()) -> None:  # type: ignore[assignment]
        """Drop the target database and the (cluster-wide) login roles a failed run may have left."""
        if self.target is None:
            return
        try:
            # Login roles are cluster-wide: find the ones that hold access to our target, drop the
            # target, then drop them (other runs' roles on the same server are left alone).
            login_roles = [*login_roles, *self.target.granted_login_roles()]
            self.target.drop()
            with psycopg.connect(libpq_url(self.admin_database_url), autocommit=True) as conn:
                extra = [self.target_login[0]] if self.target_login else []
                for role in [*login_roles, *extra]:
                    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        except psycopg.Error:
            pass

    # -- connector.yaml --------------------------------------------------------------------------
    @property
    def connector_config_path(self) -> Path:
        return self.work_dir / "connector" / "connector.yaml"

    def write_connector_config(self) -> Path:
        folder = self.connector_config_path.parent
        folder.mkdir(parents=True, exist_ok=True)
        templates = folder / "templates"
        if not templates.exists():
            shutil.copytree(TEMPLATES, templates)
        integrations: list[dict[str, Any]] = [
            {
                "id": self.noop_integration_id,
                "type": "noop",
                "connection": {
                    "journal": str(self.noop_journal),
                    "resources": self.noop_resources,
                    **({"delay_ms": self.noop_delay_ms} if self.noop_delay_ms else {}),
                },
                "templates": ["access"],
            }
        ]
        if self.target is not None:
            integrations.append(
                {
                    "id": self.integration_id,
                    "type": "postgresql",
                    "connection": {
                        "host": self.target.host,
                        "port": self.target.port,
                        "dbname": self.target.name,
                        "user": self.target_login[0] if self.target_login else self.target.admin_user,
                        "sslmode": "disable",
                    },
                    # env:// is the development secret provider: the admin password is handed to the
                    # connector process only, in its environment.
                    "secret": "env://LATCHKEY_APPDB_PASSWORD",
                    "templates": ["readonly", "readwrite"],
                }
            )
        document = {
            "apiVersion": "latchkey/v1",
            "kind": "Connector",
            "connector_id": self.connector_id,
            "control_plane_keys": {"default": self.public_key},
            "templates_dirs": ["templates"],
            "integrations": integrations,
        }
        self.connector_config_path.write_text(yaml.safe_dump(document, sort_keys=False))
        return self.connector_config_path

    # -- processes -------------------------------------------------------------------------------
    def common_env(self) -> dict[str, str]:
        return {
            "LATCHKEY_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "LATCHKEY_TOPIC_PREFIX": self.topic_prefix,
            "LATCHKEY_LOG_LEVEL": "INFO",
            "LATCHKEY_LOG_JSON": "true",
            **self.extra_env,
        }

    def flow_engine_spec(self, name: str = "flow-engine") -> ServiceSpec:
        return ServiceSpec(
            name,
            "flow_engine",
            {
                **self.common_env(),
                "LATCHKEY_DATABASE_URL": self.database_url,
                "LATCHKEY_SIGNING_KEY": self.signing_key,
                "LATCHKEY_OIDC_ISSUER": self.oidc_issuer,
                "LATCHKEY_OIDC_AUDIENCE": self.oidc_audience,
                "LATCHKEY_REVOKE_CONFIRM_SECONDS": "20",
            },
        )

    def expiry_spec(self, name: str = "expiry") -> ServiceSpec:
        return ServiceSpec(
            name,
            "expiry",
            {
                **self.common_env(),
                "LATCHKEY_DATABASE_URL": self.database_url,
                "LATCHKEY_RETRY_BASE_DELAY_SECONDS": "1",
                "LATCHKEY_RETRY_MAX_DELAY_SECONDS": "5",
            },
        )

    def identity_sync_spec(self, name: str = "identity-sync") -> ServiceSpec:
        return ServiceSpec(
            name,
            "identity_sync",
            {
                **self.common_env(),
                "LATCHKEY_DATABASE_URL": self.database_url,
                "LATCHKEY_IDP_PROVIDER": "file",
                "LATCHKEY_IDP_FILE": str(self.directory_file),
            },
        )

    def connector_spec(self, name: str = "connector") -> ServiceSpec:
        env = {
            **self.common_env(),
            "LATCHKEY_CONFIG_PATH": str(self.connector_config_path),
            "LATCHKEY_SESSION_TIMEOUT_MS": "6000",
            "LATCHKEY_HEARTBEAT_INTERVAL_MS": "1000",
        }
        if self.target is not None:
            env["LATCHKEY_APPDB_PASSWORD"] = (
                self.target_login[1] if self.target_login else self.target.admin_password
            )
        return ServiceSpec(name, "connector", env)

    def specs(self, *, identity: bool = True, expiry: bool = True) -> list[ServiceSpec]:
        """Every service; connector replicas are named connector-1..n when there are several."""
        specs = []
        if identity:
            specs.append(self.identity_sync_spec())
        specs.append(self.flow_engine_spec())
        if expiry:
            specs.append(self.expiry_spec())
        if self.connector_replicas == 1:
            specs.append(self.connector_spec())
        else:
            specs += [self.connector_spec(f"connector-{i}") for i in range(1, self.connector_replicas + 1)]
        return specs


def flow_event(document: dict[str, Any], applied_by: str = "tests") -> AccessFlowUpserted:
    """The event `latchkey-flows apply` publishes for one AccessFlow document."""
    name = document["metadata"]["name"]
    digest = hashlib.sha256(canonical_json(document)).hexdigest()
    return AccessFlowUpserted(
        name=name, spec=document, digest=digest, applied_by=applied_by, correlation_id=name
    )


def access_flow(
    name: str,
    *,
    integration: str,
    resource: str,
    resource_type: str | None,
    permissions: list[str],
    requester_groups: list[str] | None = None,
    requester_users: list[str] | None = None,
    steps: list[dict[str, Any]] | None = None,
    default_duration: str = "20s",
    max_duration: str = "1h",
    rotate: bool = True,
    timeout: str = "10m",
) -> dict[str, Any]:
    """An AccessFlow document (docs/access-flows.md): automatic unless `steps` are given."""
    requesters: dict[str, Any] = {}
    if requester_groups:
        requesters["groups"] = requester_groups
    if requester_users:
        requesters["users"] = requester_users
    selector: dict[str, Any] = {"name": resource}
    if resource_type:
        selector["type"] = resource_type
    approval: dict[str, Any] = {"automatic": True} if not steps else {"timeout": timeout, "steps": steps}
    return {
        "apiVersion": "latchkey/v1",
        "kind": "AccessFlow",
        "metadata": {"name": name},
        "spec": {
            "requesters": requesters,
            "access": {"integration": integration, "resources": [selector], "permissions": permissions},
            "approval": approval,
            "allowSelfApproval": False,
            "defaultDuration": default_duration,
            "maxDuration": max_duration,
            "justification": "optional",
            "credentials": {"rotateAfterRevoke": rotate},
        },
    }
