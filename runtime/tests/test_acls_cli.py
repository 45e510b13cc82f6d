"""`latchkey-acls` without a broker: the rules it prints, as kafka-acls.sh commands and as JSON, and
the errors a person can act on. tests/security/test_kafka_acls.py runs the system under these rules."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from latchkey.runtime.acls import Acl, cli, latchkey_acls


def test_each_principal_writes_only_what_it_produces() -> None:
    rules = latchkey_acls("prod.", ["acme", "eu"], {"connector.eu": "User:cn-eu"})
    writes = {(r.principal, r.name) for r in rules if r.operation == "WRITE"}
    assert ("User:latchkey-flow-engine", "prod.connector.acme.commands.v1") in writes
    # commands: flow-engine signs them; admins may replay a dead-lettered one (still signed)
    command_writers = {who for who, name in writes if name.endswith(".commands.v1")}
    assert command_writers == {"User:latchkey-flow-engine", "User:latchkey-admin"}
    assert not [w for w in writes if w[0] == "User:latchkey-requester" and w[1] != "prod.access.requests.v1"]
    # a connector with a principal of its own reads only its own commands
    reads = {(r.principal, r.name) for r in rules if r.operation == "READ"}
    assert ("User:cn-eu", "prod.connector.eu.commands.v1") in reads
    assert ("User:cn-eu", "prod.connector.acme.commands.v1") not in reads
    assert ("User:latchkey-connector-acme", "prod.connector.eu.commands.v1") not in reads
    assert ("User:latchkey-connector-acme", "prod.connector.acme.commands.v1") in reads
    shared = latchkey_acls("", ["acme", "eu"], {"connector": "User:cn"})  # one principal for both
    assert {r.name for r in shared if r.principal == "User:cn" and r.name.endswith("commands.v1")} == {
        "connector.acme.commands.v1",
        "connector.eu.commands.v1",
    }
    # who may read the requests topic (it carries ID tokens)
    assert {who for who, name in reads if name == "prod.access.requests.v1"} == {"User:latchkey-flow-engine"}
    assert Acl("User:latchkey-flow-engine", "GROUP", "prod.flow-engine.", "READ", prefixed=True) in rules


def test_the_rules_are_printed_as_kafka_acls_commands_or_json() -> None:
    runner = CliRunner()
    printed = runner.invoke(cli, ["--connector", "acme", "--prefix", "p.", "--bootstrap-server", "k:9093"])
    assert printed.exit_code == 0, printed.output
    lines = printed.output.splitlines()
    assert len(lines) == len(latchkey_acls("p.", ["acme"]))
    assert (
        "kafka-acls.sh --bootstrap-server k:9093 --add --allow-principal User:latchkey-flow-engine "
        "--operation Read --group p.flow-engine. --resource-pattern-type prefixed"
    ) in lines
    as_json = runner.invoke(cli, ["-c", "acme", "--format", "json"])
    assert as_json.exit_code == 0
    assert {tuple(r.values()) for r in json.loads(as_json.output)} == {
        (r.principal, r.resource, r.name, r.operation, r.prefixed) for r in latchkey_acls("", ["acme"])
    }


def test_a_malformed_or_unknown_principal_is_refused_saying_how() -> None:
    runner = CliRunner()
    bad = runner.invoke(cli, ["-c", "acme", "--principal", "flow-engine"])
    assert bad.exit_code == 2 and "ROLE=Type:name" in bad.output
    unknown = runner.invoke(cli, ["-c", "acme", "--principal", "auditor=User:a"])
    assert unknown.exit_code == 2 and "unknown role 'auditor'" in unknown.output
    none = runner.invoke(cli, [])
    assert none.exit_code == 2 and "--connector" in none.output
