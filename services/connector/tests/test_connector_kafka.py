"""The connector process on the real broker: results for every command, refusals with reasons,
dead letters for unparseable bytes, inventory on startup and on command, and a secret canary."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from nacl.public import PrivateKey, SealedBox

from latchkey.connector.results import SOURCE_HEADER
from latchkey.connector.testing import ConnectorProcess
from latchkey.contracts import (
    INVENTORY,
    RESULTS,
    CommandApplied,
    CommandFailed,
    DeadLetter,
    Event,
    InventorySynced,
    ResourceDiscovered,
    ResourceRemoved,
    connector_commands,
    utcnow,
)
from latchkey.runtime.health import probe
from latchkey.runtime.signing import CommandSigner, generate_private_key, load_private_key
from latchkey.runtime.testing import create_database, drop_database, unique_prefix
from latchkey.runtime.testing.bus import read_until
from latchkey.runtime.testing.infra import Infra, libpq_url

from .conftest import CommandFactory, write_config

pytestmark = pytest.mark.infra

CANARY = f"CANARY-{uuid.uuid4().hex}"


@dataclass
class Running:
    bootstrap: str
    prefix: str
    process: ConnectorProcess
    journal: Path
    database: dict[str, Any]

    @property
    def commands(self) -> str:
        return f"{self.prefix}{connector_commands('test-conn').name}"

    @property
    def results(self) -> str:
        return f"{self.prefix}{RESULTS.name}"

    @property
    def inventory(self) -> str:
        return f"{self.prefix}{INVENTORY.name}"


@pytest.fixture(scope="module")
def target_db(infra: Infra) -> Iterator[dict[str, Any]]:
    name = f"lk_conn_{uuid.uuid4().hex[:8]}"
    url = libpq_url(create_database(infra.admin_database_url, name))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA shop")
        conn.execute("CREATE TABLE shop.items (id int)")
        conn.execute("CREATE TABLE shop.old_items (id int)")
        conn.execute("INSERT INTO shop.items VALUES (1), (2), (3)")
    info = psycopg.conninfo.conninfo_to_dict(url)
    yield {
        "url": url,
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
        "user": info.get("user"),
        "dbname": name,
    }
    with psycopg.connect(url, autocommit=True) as conn:
        for (role,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'lk\\_%'").fetchall():
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')
    drop_database(infra.admin_database_url, name)


@pytest.fixture(scope="module")
async def connector(
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
    control_plane_key: str,
    target_db: dict[str, Any],
) -> AsyncIterator[Running]:
    folder = tmp_path_factory.mktemp("connector")
    journal = folder / "journal"
    config = write_config(
        folder,
        control_plane_key,
        [
            {"id": "bench", "type": "noop", "templates": ["access"], "connection": {"journal": str(journal)}},
            {
                "id": "appdb",
                "type": "postgresql",
                "connection": {k: target_db[k] for k in ("host", "port", "user", "dbname")},
                "secret": "env://LK_CANARY_SECRET",
                "templates": ["readonly"],
            },
        ],
    )
    prefix = unique_prefix()
    # The loopback test server trusts its clients, so the canary works as the integration's password.
    process = ConnectorProcess(
        config, kafka_bootstrap, prefix, folder / "connector.log", env={"LK_CANARY_SECRET": CANARY}
    ).start()
    await asyncio.to_thread(process.wait_ready)
    yield Running(kafka_bootstrap, prefix, process, journal, target_db)
    assert process.stop() == 0, f"SIGTERM should end the connector cleanly: {process.tail()}"


async def send(running: Running, *values: Event | bytes, traceparent: str | None = None) -> None:
    from aiokafka import AIOKafkaProducer

    headers = [("traceparent", traceparent.encode())] if traceparent else []
    producer = AIOKafkaProducer(bootstrap_servers=running.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for value in values:
            if isinstance(value, Event):
                key = str(getattr(value, "grant_id", "")).encode()
                data = value.model_dump_json().encode()
                await producer.send_and_wait(running.commands, data, key=key, headers=headers)
            else:
                await producer.send_and_wait(running.commands, value, key=b"garbage")
    finally:
        await producer.stop()


async def results_for(
    running: Running, command_ids: list[str], settle: float = 0.0, *, each: int = 1
) -> dict[str, list[Any]]:
    """The results of `command_ids`, once each has at least `each` of them (then `settle` s more)."""
    wanted = set(command_ids)

    def parse(records: list[Any]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        for record in records:
            result = RESULTS.parse(record.value)
            if result.command_id in wanted:  # type: ignore[attr-defined]
                found.setdefault(result.command_id, []).append(result)  # type: ignore[attr-defined]
        return found

    def done(records: list[Any]) -> bool:
        found = parse(records)
        return all(len(found.get(c, [])) >= each for c in wanted)

    records = await read_until(running.bootstrap, running.results, done, timeout=60, settle=settle)
    return parse(records)


def journal_lines(running: Running) -> list[str]:
    return running.journal.read_text().splitlines() if running.journal.exists() else []


async def test_grant_and_revoke_each_get_one_applied_result(
    connector: Running, make_command: CommandFactory
) -> None:
    grant = make_command("grant")
    revoke = make_command("revoke", grant_id=grant.grant_id)
    trace_id = uuid.uuid4().hex
    await send(connector, grant, revoke, traceparent=f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01")
    found = await results_for(connector, [grant.command_id, revoke.command_id], settle=1.0)
    # Structured logs name the command, the grant and the trace.
    lines = [json.loads(line) for line in connector.process.logs().splitlines() if line.startswith("{")]
    processed = [
        e for e in lines if e.get("event") == "command processed" and e.get("command_id") == grant.command_id
    ]
    assert processed and processed[0]["grant_id"] == grant.grant_id and processed[0]["trace_id"] == trace_id
    assert [type(r) for r in found[grant.command_id]] == [CommandApplied]
    assert [type(r) for r in found[revoke.command_id]] == [CommandApplied]
    assert found[grant.command_id][0].replica.startswith("replica")
    lines = journal_lines(connector)
    assert f"grant {grant.grant_id} access noop-resource" in lines
    assert f"revoke {grant.grant_id} access noop-resource" in lines


async def test_refused_commands_get_a_failed_result_with_reason_and_nothing_runs(
    connector: Running, make_command: CommandFactory
) -> None:
    impostor = CommandSigner(load_private_key(generate_private_key()), key_id="cp-1")
    past = utcnow().replace(year=2020)
    forged = impostor.sign(make_command("grant", sign=False))
    expired = make_command("grant", issued_at=past, not_after=past.replace(minute=(past.minute + 5) % 60))
    unknown_template = make_command("grant", template="superuser")
    unknown_integration = make_command("grant", integration_id="mainframe")
    original = make_command("grant")
    replay = original.model_copy()  # same signed bytes, new record
    await send(connector, forged, expired, unknown_template, unknown_integration, original)
    await results_for(connector, [original.command_id])
    await send(connector, replay)
    expected = {
        forged.command_id: "bad_signature",
        expired.command_id: "expired",
        unknown_template.command_id: "unknown_template",
        unknown_integration.command_id: "unknown_integration",
    }
    found = await results_for(connector, list(expected), settle=0.5)
    found |= await results_for(connector, [original.command_id], settle=0.5, each=2)
    for command_id, code in expected.items():
        (result,) = found[command_id]
        assert isinstance(result, CommandFailed) and result.code == code and result.reason
        assert not result.retryable
    first, second = found[original.command_id]
    assert isinstance(first, CommandApplied)
    assert isinstance(second, CommandFailed) and second.code == "replayed"
    ran = [line.split()[1] for line in journal_lines(connector)]
    assert ran.count(original.grant_id) == 1
    assert not {forged.grant_id, expired.grant_id, unknown_template.grant_id} & set(ran)


async def test_unparseable_bytes_go_to_the_dlq_and_the_consumer_goes_on(
    connector: Running, make_command: CommandFactory
) -> None:
    after = make_command("grant")
    await send(connector, b"{not json", b'{"type": "connector.grant", "command_id": 1}', after)
    found = await results_for(connector, [after.command_id])
    assert isinstance(found[after.command_id][0], CommandApplied)
    dlq = await read_until(
        connector.bootstrap, f"{connector.commands}.dlq", lambda r: len(r) >= 2, timeout=30
    )
    letters = [DeadLetter.model_validate_json(r.value) for r in dlq]
    assert {base64.b64decode(d.value_b64 or "") for d in letters} >= {b"{not json"}
    assert all(d.reason for d in letters)


async def test_a_result_from_another_replica_prevents_re_execution(
    connector: Running, make_command: CommandFactory
) -> None:
    """The ledger reads connector.results.v1: a command another replica already executed is not run."""
    from aiokafka import AIOKafkaProducer

    command = make_command("grant")
    elsewhere = CommandApplied(
        producer="connector",
        command_id=command.command_id,
        grant_id=command.grant_id,
        connector_id="test-conn",
        command_type="connector.grant",
        attempt=1,
        replica="replica-other",
    )
    producer = AIOKafkaProducer(bootstrap_servers=connector.bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait(
        connector.results,
        elsewhere.model_dump_json().encode(),
        key=command.grant_id.encode(),
        headers=[(SOURCE_HEADER, b"some-other-record:0:0")],
    )
    await producer.stop()
    await asyncio.sleep(1.0)  # let the ledger read it (it catches up before out-of-sequence batches)
    await send(connector, command)
    found = await results_for(connector, [command.command_id], settle=0.5, each=2)
    kinds = [(type(r).__name__, getattr(r, "code", None)) for r in found[command.command_id]]
    assert kinds == [("CommandApplied", None), ("CommandFailed", "replayed")]
    assert command.grant_id not in connector.journal.read_text()


async def test_postgres_login_over_kafka_and_the_canary_secret_appears_nowhere(
    connector: Running, make_command: CommandFactory
) -> None:
    requester = PrivateKey.generate()
    resource = f"schema:{connector.database['dbname']}.shop"
    grant = make_command(
        "grant",
        integration_id="appdb",
        template="readonly",
        resource=resource,
        requester_public_key=base64.b64encode(bytes(requester.public_key)).decode(),
    )
    bad = make_command(
        "grant",
        integration_id="appdb",
        template="readonly",
        resource=resource,
        parameters={"role": "no_such_role"},
    )
    await send(connector, grant, bad)
    found = await results_for(connector, [grant.command_id, bad.command_id])
    applied = found[grant.command_id][0]
    assert isinstance(applied, CommandApplied) and applied.sealed_credentials
    failed = found[bad.command_id][0]
    assert isinstance(failed, CommandFailed) and "does not exist" in failed.reason
    creds = json.loads(SealedBox(requester).decrypt(base64.b64decode(applied.sealed_credentials)))
    async with await psycopg.AsyncConnection.connect(
        host=creds["host"],
        port=int(creds["port"]),
        dbname=creds["database"],
        user=creds["user"],
        password=creds["password"],
    ) as session:
        assert await (await session.execute("SELECT count(*) FROM shop.items")).fetchone() == (3,)
    revoke = make_command(
        "revoke", integration_id="appdb", template="readonly", resource=resource, grant_id=grant.grant_id
    )
    await send(connector, revoke)
    assert isinstance(
        (await results_for(connector, [revoke.command_id]))[revoke.command_id][0], CommandApplied
    )
    with psycopg.connect(connector.database["url"]) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = %s", (creds["user"],)
        ).fetchone() == (0,)

    # The canary: not in any topic this connector touches, not in its logs.
    topics = [connector.commands, connector.results, connector.inventory, f"{connector.commands}.dlq"]
    everything = await read_until(connector.bootstrap, topics, lambda r: len(r) > 0, timeout=30, settle=1.0)
    blob = b"".join((r.value or b"") + b"".join(v for _, v in r.headers or []) for r in everything)
    assert CANARY.encode() not in blob
    assert creds["password"].encode() not in blob  # the issued password travels only sealed
    logs = connector.process.logs()
    assert "postgresql access granted" in logs  # the log capture works
    assert CANARY not in logs and creds["password"] not in logs


async def test_inventory_at_startup_and_on_command_with_tombstones(
    connector: Running, make_command: CommandFactory
) -> None:
    db = connector.database["dbname"]
    table = f"table:{db}.shop.old_items"

    def inventory(records: list[Any]) -> list[Any]:
        return [r for r in records if r.key and r.key.decode().startswith("appdb/")]

    records = await read_until(
        connector.bootstrap,
        connector.inventory,
        lambda r: any(r.key == f"appdb/{table}".encode() for r in inventory(r)),
        timeout=60,
    )
    events = [INVENTORY.parse(r.value) for r in inventory(records) if r.value]
    schema = next(
        e for e in events if isinstance(e, ResourceDiscovered) and e.resource_id == f"schema:{db}.shop"
    )
    assert schema.permissions == ["readonly"] and schema.connector_id == "test-conn"
    with psycopg.connect(connector.database["url"], autocommit=True) as conn:
        conn.execute("DROP TABLE shop.old_items")
    sync = make_command("sync", integration_id="appdb")
    await send(connector, sync)
    assert isinstance((await results_for(connector, [sync.command_id]))[sync.command_id][0], CommandApplied)
    records = await read_until(
        connector.bootstrap,
        connector.inventory,
        lambda r: any(x.key == f"appdb/{table}".encode() and x.value is None for x in r),
        timeout=30,
    )
    mine = [r for r in records if r.key == f"appdb/{table}".encode()]
    assert isinstance(INVENTORY.parse(mine[-2].value), ResourceRemoved) and mine[-1].value is None
    synced = [INVENTORY.parse(r.value) for r in records if r.key == b"appdb/_sync"]
    assert len(synced) >= 2 and all(isinstance(s, InventorySynced) for s in synced)


async def test_readiness_reports_kafka_config_templates_and_ledger(connector: Running) -> None:
    ok, body = probe("127.0.0.1", connector.process.port)
    checks = json.loads(body)["checks"]
    assert ok and checks == {"kafka": True, "config": True, "templates": True, "results_ledger": True}
