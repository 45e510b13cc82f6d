"""connector.yaml and templates: clear errors for what is wrong, strict parameter validation."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from latchkey.connector import integrations
from latchkey.connector.config import ConfigError, load_config
from latchkey.connector.integrations import load_builtin_integrations
from latchkey.connector.templates import ParameterInvalid, parse_template
from latchkey.runtime.signing import load_private_key, public_key_of

from .conftest import write_config

EXAMPLE = Path(__file__).parents[3] / "examples" / "connector" / "connector.yaml"
APPDB = {"id": "db", "type": "postgresql", "connection": {"host": "db.internal"}}

INJECTIONS = [
    'x"; DROP TABLE accounts; --',
    "x' OR '1'='1",
    "public; GRANT ALL ON ALL TABLES IN SCHEMA public TO PUBLIC",
    "a\x00b",
    "$$; SELECT pg_sleep(10); $$",
    "robert\n); DROP ROLE postgres; --",
    "x" * 5000,
]


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE)
    assert config.connector_id == "acme-prod"
    assert config.integrations["appdb"].templates == ["readonly", "readwrite", "owner"]


def test_unknown_integration_type_is_named(tmp_path: Path, control_plane_key: str) -> None:
    path = write_config(tmp_path, control_plane_key, [{"id": "x", "type": "mainframe", "templates": []}])
    with pytest.raises(ConfigError, match="unknown type 'mainframe'") as refused:
        load_config(path)
    # every type this connector could serve, not only those the file happened to name
    assert "'aws', 'azure', 'gcp', 'kubernetes', 'noop', 'postgresql'" in str(refused.value)


def test_allowed_template_must_exist(tmp_path: Path, control_plane_key: str) -> None:
    path = write_config(tmp_path, control_plane_key, [{**APPDB, "templates": ["god"]}])
    with pytest.raises(ConfigError, match=r"allows template 'god', but no postgresql/god.yaml"):
        load_config(path)


def test_secret_must_be_a_reference_not_a_value(tmp_path: Path, control_plane_key: str) -> None:
    path = write_config(
        tmp_path,
        control_plane_key,
        [{"id": "db", "type": "postgresql", "secret": "hunter2", "templates": []}],
    )
    with pytest.raises(ConfigError, match="must be a reference") as caught:
        load_config(path)
    assert "hunter2" not in str(caught.value)


def test_secret_must_name_a_secret_store_not_a_connection_url(tmp_path: Path, control_plane_key: str) -> None:
    """A DSN has the shape of a reference but carries the password: refused at load, never repeated
    (it would otherwise reach the connector's log and, as a failed grant's reason, the lifecycle topic)."""
    dsn = "postgresql://latchkey:S3cretPw@db.internal/appdb"
    path = write_config(
        tmp_path, control_plane_key, [{"id": "db", "type": "postgresql", "secret": dsn, "templates": []}]
    )
    with pytest.raises(ConfigError, match="must name a secret store") as caught:
        load_config(path)
    assert "S3cretPw" not in str(caught.value)


def test_bad_control_plane_key_is_refused(tmp_path: Path, control_plane_key: str) -> None:
    path = write_config(tmp_path, control_plane_key, [{"id": "b", "type": "noop", "templates": []}])
    path.write_text(path.read_text().replace(path.read_text().split("cp-1: ")[1].split("\n")[0], "notakey"))
    with pytest.raises(ConfigError, match=r"control_plane_keys\.cp-1"):
        load_config(path)


def test_control_plane_key_can_be_read_from_a_file(tmp_path: Path, control_plane_key: str) -> None:
    """`file:<path>` (relative to connector.yaml): the key flow-engine's `keygen` wrote, e.g. in a
    volume shared with the connector; a missing file is named, not guessed around."""
    path = write_config(tmp_path, control_plane_key, [{"id": "b", "type": "noop", "templates": []}])
    public = public_key_of(load_private_key(control_plane_key))
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "control-plane.pub").write_text(public + "\n")
    path.write_text(path.read_text().replace(public, "file:keys/control-plane.pub"))
    loaded = load_config(path).public_keys["cp-1"]
    assert base64.b64encode(loaded.public_bytes_raw()).decode() == public

    (tmp_path / "keys" / "control-plane.pub").unlink()
    with pytest.raises(ConfigError, match=r"control_plane_keys\.cp-1: cannot read .*keys/control-plane\.pub"):
        load_config(path)


def test_template_with_unknown_placeholder_fails_validation(tmp_path: Path, control_plane_key: str) -> None:
    write_config(tmp_path, control_plane_key, [])
    (tmp_path / "templates" / "postgresql" / "evil.yaml").write_text(
        "apiVersion: latchkey/v1\nkind: Template\nname: evil\nintegration: postgresql\n"
        "grant: [{sql: 'GRANT {what} TO {grantee}'}]\nrevoke: [{sql: 'REVOKE x FROM {grantee}'}]\n"
    )
    path = write_config(tmp_path, control_plane_key, [{**APPDB, "templates": ["evil"]}])
    with pytest.raises(ConfigError, match=r"evil.yaml: grant\[0\]: unknown placeholder\(s\) \['what'\]"):
        load_config(path)


def test_template_file_location_must_match_its_name(tmp_path: Path, control_plane_key: str) -> None:
    write_config(tmp_path, control_plane_key, [])
    source = (tmp_path / "templates" / "postgresql" / "readonly.yaml").read_text()
    (tmp_path / "templates" / "postgresql" / "other.yaml").write_text(source)
    path = write_config(tmp_path, control_plane_key, [{"id": "db", "type": "postgresql", "templates": []}])
    with pytest.raises(ConfigError, match="move it to"):
        load_config(path)


@pytest.mark.parametrize("value", INJECTIONS)
def test_identifier_parameters_refuse_injection_strings(value: str) -> None:
    template = parse_template(
        (Path(__file__).parents[1] / "templates/postgresql/owner.yaml").read_text(), "t"
    )
    with pytest.raises(ParameterInvalid) as caught:
        template.bind({"owner_role": value})
    assert "owner_role" in str(caught.value)


def test_parameters_unknown_missing_and_defaults() -> None:
    template = parse_template((Path(__file__).parents[1] / "templates/noop/access.yaml").read_text(), "t")
    assert template.bind({}) == {"level": "read"}
    with pytest.raises(ParameterInvalid, match="one of"):
        template.bind({"level": "admin"})
    with pytest.raises(ParameterInvalid, match="takes no parameter"):
        template.bind({"sudo": "yes"})
    owner = parse_template((Path(__file__).parents[1] / "templates/postgresql/owner.yaml").read_text(), "t")
    with pytest.raises(ParameterInvalid, match="requires parameter 'owner_role'"):
        owner.bind({})


def test_validate_config_command_says_what_is_wrong(tmp_path: Path, control_plane_key: str) -> None:
    from typer.testing import CliRunner

    from latchkey.connector.__main__ import app

    runner = CliRunner()
    good = runner.invoke(app, ["validate-config", str(EXAMPLE)])
    assert good.exit_code == 0 and "ok: connector acme-prod" in good.output
    bad = write_config(tmp_path, control_plane_key, [{**APPDB, "templates": ["nope"]}])
    result = runner.invoke(app, ["validate-config", str(bad)])
    assert result.exit_code == 1 and "allows template 'nope'" in result.output


def test_a_misspelt_connection_key_is_refused_with_the_keys_the_type_reads(
    tmp_path: Path, control_plane_key: str
) -> None:
    """`hots:` for `host:` would start a connector that fails at its first command: validate-config
    refuses it, naming the key, the integration and what the type reads."""
    from typer.testing import CliRunner

    from latchkey.connector.__main__ import app

    path = write_config(
        tmp_path,
        control_plane_key,
        [{**APPDB, "connection": {"hots": "db.internal", "port": 5432}, "templates": ["readonly"]}],
    )
    result = CliRunner().invoke(app, ["validate-config", str(path)])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())  # typer's stderr, unwrapped
    assert "integration 'db' (postgresql): unknown connection key 'hots' (did you mean 'host'?)" in said
    assert (
        "postgresql reads connect_timeout, databases, dbname, host, port, public_host, sslmode, user" in said
    )


def test_a_required_connection_key_that_is_missing_is_named(tmp_path: Path, control_plane_key: str) -> None:
    path = write_config(
        tmp_path, control_plane_key, [{**APPDB, "connection": {"dbname": "appdb"}, "templates": []}]
    )
    with pytest.raises(ConfigError, match=r"integration 'db' \(postgresql\): connection.host is required"):
        load_config(path)


def test_a_credential_under_connection_is_refused_without_repeating_it(
    tmp_path: Path, control_plane_key: str
) -> None:
    path = write_config(
        tmp_path,
        control_plane_key,
        [{**APPDB, "connection": {"host": "db.internal", "password": "hunter2"}, "templates": []}],
    )
    with pytest.raises(ConfigError, match="unknown connection key 'password'") as caught:
        load_config(path)
    assert "keep it in the secret store and name it with `secret:`" in str(caught.value)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("integration", "refusal"),
    [
        (
            {"type": "kubernetes", "connection": {"ca_file": "/ca.pem"}, "secret": "env://K8S_TOKEN"},
            "a `secret` (a bearer token) needs connection.server",
        ),
        (
            {"type": "azure", "connection": {"tenant_id": "acme"}},
            "connection.tenant_id and connection.client_id go together",
        ),
    ],
    ids=["kubernetes-token-without-server", "azure-tenant-without-client"],
)
def test_connection_keys_another_setting_needs_are_required(
    tmp_path: Path, control_plane_key: str, integration: dict[str, object], refusal: str
) -> None:
    """What the integration would otherwise find out at its first command."""
    path = write_config(tmp_path, control_plane_key, [{"id": "x", "templates": [], **integration}])
    with pytest.raises(ConfigError, match=re.escape(refusal)):
        load_config(path)


def test_every_connection_key_an_integration_reads_is_declared() -> None:
    """A key an integration reads but does not declare would be refused in every connector.yaml that
    sets it: each `connection.get("...")` / `connection["..."]` in the integrations' code is declared."""
    folder = Path(integrations.__file__).parent
    read = re.compile(r"""\b(?:connection|c)(?:\.get\(|\[)["'](\w+)["']""")
    load_builtin_integrations()
    for kind in integrations.BUILTIN:
        cls = integrations.REGISTRY[kind]
        used = set(read.findall((folder / f"{kind}.py").read_text()))
        assert used, f"{kind}: no connection reads found; is the pattern still right?"
        assert used <= cls.connection_keys, f"{kind} reads {sorted(used - cls.connection_keys)} undeclared"
