"""No secret at rest: after a full grant → use → revoke cycle, the connector's target password (a
canary), the credentials issued to the requester, the command-signing key, the requester's private
key and the notification webhook's URL (a refused notification went through the error path) appear in
no service log, no record of any topic and no row of any control-plane table — neither as text nor
base64."""

from __future__ import annotations

import base64

import psycopg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from latchkey.contracts import LIFECYCLE
from latchkey.runtime.testing import libpq_url
from tests.support.bus import TopicReader
from tests.support.scenario import ALICE, DAVE, RunningLatchkey
from tests.support.system import Requester

from .conftest import CANARY_HOOK_PATH, CANARY_PASSWORD

pytestmark = [pytest.mark.infra, pytest.mark.timeout(180)]


def _forms(secret: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw)]


async def _all_topic_bytes(running: RunningLatchkey) -> dict[str, bytes]:
    admin = AIOKafkaAdminClient(bootstrap_servers=running.bootstrap.split(","))
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(running.prefix))
    finally:
        await admin.close()
    contents: dict[str, bytes] = {}
    for name in names:
        async with TopicReader(running.bootstrap, name) as reader:
            await reader.drain(quiet=1.0)
            contents[name] = b"\n".join(
                (r.key or "").encode() + (r.value or b"") + repr(r.headers).encode() for r in reader.records
            )
    return contents


def _all_table_text(running: RunningLatchkey) -> dict[str, str]:
    url = libpq_url(running.system.database_url)
    out: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(
                psycopg.sql.SQL("SELECT t::text FROM {}.{} t").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
                )
            ).fetchall()
            out[f"{schema}.{table}"] = "\n".join(r[0] for r in rows)
    return out


async def test_no_secret_in_any_log_topic_or_table(secured: RunningLatchkey) -> None:
    alice = Requester(*ALICE)
    request_id = await secured.submit(ALICE, alice, duration_seconds=6)
    activated = await secured.wait_for_type(request_id, "access.grant.activated", 60)
    credentials = alice.open_sealed(activated.sealed_credentials)  # type: ignore[attr-defined]
    await secured.wait_for_type(request_id, "access.grant.revoked", 40)
    # a request that needs reviewers is notified; the hook refuses it, so it is dead-lettered
    reviewed = await secured.submit(DAVE, Requester(*DAVE), permission="readwrite")
    await secured.wait_for_type(reviewed, "access.request.created", 30)
    async with TopicReader(secured.bootstrap, secured.topic(LIFECYCLE.dlq)) as dead_letters:
        await dead_letters.wait_for(
            lambda rs: any(b"NotifyRefused" in (r.value or b"") and r.key == reviewed for r in rs),
            30,
            "the refused notification in the lifecycle DLQ",
        )

    secrets = {
        "connector target password (canary)": CANARY_PASSWORD,
        "issued database password": credentials["password"],
        "command signing key": secured.system.signing_key,
        "requester private key": base64.b64encode(bytes(alice.private_key)).decode(),
        "notification webhook URL": CANARY_HOOK_PATH,
    }
    places: dict[str, bytes] = {f"log {n}": t.encode() for n, t in secured.services.logs().items()}
    places.update({f"topic {n}": b for n, b in (await _all_topic_bytes(secured)).items()})
    places.update({f"table {n}": t.encode() for n, t in _all_table_text(secured).items()})
    assert any(k.startswith("topic ") for k in places) and any(k.startswith("table ") for k in places)

    leaks = [
        f"{what} in {where}"
        for what, secret in secrets.items()
        for where, content in places.items()
        if any(form in content for form in _forms(secret))
    ]
    assert not leaks, "secrets found: " + "; ".join(leaks)
