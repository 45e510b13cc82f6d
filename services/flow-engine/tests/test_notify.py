"""Notifications on a real broker and database: a request that needs reviewers is posted to the
webhook (once, even after the hook failed and the batch came again); an automatic one is not; a hook
that refuses an event sends it to the dead-letter topic, and the URL appears nowhere."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from latchkey.contracts import LIFECYCLE, REQUESTS, USERS, DeadLetter, UserUpserted, connector_commands
from latchkey.flow_engine.app import FlowEngine
from latchkey.runtime.testing import (
    create_database,
    drop_database,
    safe_database_name,
    sqlalchemy_url,
    unique_prefix,
)
from latchkey.runtime.testing.bus import read_until
from latchkey.runtime.testing.oidc import TestIssuer

from .conftest import CONNECTOR, TEST_FLOWS, Bus, engine_settings, seed
from .test_requests import approve, submit

pytestmark = pytest.mark.infra

SECRET_PATH = "/hooks/T0/CANARY-hook-secret-8c1f"


class Hook:
    """A webhook on loopback: records every POST and answers with the statuses queued for the request
    id it names (200 when none are queued)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, dict[str, Any]]] = []
        self.answers: dict[str, list[int]] = {}
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = 404 if self.path != SECRET_PATH else 200
                for request_id, queued in hook.answers.items():
                    if request_id in body.get("text", "") and queued:
                        status = queued.pop(0)
                hook.calls.append((status, body))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"

    def accepted(self, request_id: str) -> list[dict[str, Any]]:
        return [body for status, body in self.calls if status == 200 and request_id in body["text"]]

    def attempts(self, request_id: str) -> list[int]:
        return [status for status, body in self.calls if request_id in body["text"]]


@pytest.fixture(scope="module")
def hook() -> Iterator[Hook]:
    served = Hook()
    yield served
    served.server.shutdown()


@pytest.fixture(scope="module")
async def notifying(
    infra: Any, idp: TestIssuer, signing_key: str, hook: Hook
) -> AsyncIterator[tuple[FlowEngine, Bus]]:
    prefix = unique_prefix()
    name = safe_database_name("flow_engine_notify")
    url = sqlalchemy_url(create_database(infra.admin_database_url, name))
    settings = engine_settings(
        infra.kafka_bootstrap,
        url,
        prefix,
        idp,
        signing_key,
        notify_webhook_url=hook.url,
        notify_format="json",
    )
    engine = FlowEngine(settings, configure_process=False)
    await engine.service.app.start()
    bus = Bus(infra.kafka_bootstrap, prefix)
    await bus.start([LIFECYCLE, connector_commands(CONNECTOR), REQUESTS])
    try:
        await seed(bus, engine, [TEST_FLOWS])
        await _group_assigned(infra.kafka_bootstrap, settings.group("flow-engine.notify"))
        yield engine, bus
    finally:
        await bus.stop()
        await engine.service.app.stop()
        drop_database(infra.admin_database_url, name)


async def _group_assigned(bootstrap: str, group: str, timeout: float = 30) -> None:
    """Until the notifier's group owns the lifecycle partitions (it starts from the latest event)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            groups = [
                g for r in await admin.describe_consumer_groups([group]) for g in r.to_object()["groups"]
            ]
            if groups and groups[0]["state"] == "Stable" and groups[0]["members"]:
                return
            assert asyncio.get_running_loop().time() < deadline, f"group {group} never became stable"
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def _until(check: Any, timeout: float = 30, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_requests_that_need_reviewers_are_posted_once_and_automatic_ones_are_not(
    notifying: tuple[FlowEngine, Bus], idp: TestIssuer, hook: Hook
) -> None:
    engine, bus = notifying
    await bus.publish(REQUESTS, submit(idp, "r-auto"))
    await bus.wait_types("r-auto", "access.grant.requested")

    hook.answers["r-manual"] = [503, 429]  # the hook fails twice: the batch comes again, then it is accepted
    await bus.publish(
        REQUESTS, submit(idp, "r-manual", "u-bob", "readwrite", justification="migration check")
    )
    await _until(lambda: hook.accepted("r-manual"), what="the review notification")
    await asyncio.sleep(1.0)  # a second post would show by now

    assert hook.attempts("r-manual") == [503, 429, 200]
    [posted] = hook.accepted("r-manual")
    text = posted["text"]
    assert text.startswith(
        "bob@example.com readwrite on orders-db (pg-prod) for 30m under flow orders-readwrite"
    )
    assert '"migration check"' in text and "latchkey-access approve r-manual" in text
    assert posted["event"]["type"] == "access.request.created" and posted["event"]["request_id"] == "r-manual"
    assert hook.attempts("r-auto") == [], "an automatic request needs no one"
    assert engine.notifier is not None and engine.notifier.posted >= 1

    # the DBA approves step 1: step 2 opens, and its post names who may review it (bob's manager)
    await bus.publish(REQUESTS, approve(idp, "r-manual", "u-dba"))
    await _until(lambda: len(hook.accepted("r-manual")) == 2, what="the second step's notification")
    second = hook.accepted("r-manual")[1]
    assert second["event"]["type"] == "access.review.requested" and second["event"]["step"] == 1
    assert second["text"] == (
        "request r-manual: waiting for step 2: all of the requester's manager — may review: mgr@example.com."
        " Review: latchkey-access approve r-manual"
    )

    # bob gets a new manager while step 2 waits: the step is posted again, naming the new one
    await bus.publish(USERS, UserUpserted(user_id="u-bob", email="bob@example.com", manager_id="u-admin"))
    try:
        await _until(lambda: len(hook.accepted("r-manual")) == 3, what="the reviewers' change posted")
    finally:
        await bus.publish(USERS, UserUpserted(user_id="u-bob", email="bob@example.com", manager_id="u-mgr"))
    third = hook.accepted("r-manual")[2]
    assert (third["event"]["step"], third["event"]["update"]) == (1, True)
    assert third["text"] == (
        "request r-manual: reviewers changed; waiting for step 2: all of the requester's manager — may"
        " review: admin@example.com. Review: latchkey-access approve r-manual"
    )


async def test_a_refused_notification_is_dead_lettered_without_the_url(
    notifying: tuple[FlowEngine, Bus], idp: TestIssuer, hook: Hook
) -> None:
    _, bus = notifying
    hook.answers["r-refused"] = [400]
    await bus.publish(REQUESTS, submit(idp, "r-refused", "u-bob", "readwrite", justification="x"))
    await bus.publish(REQUESTS, submit(idp, "r-next", "u-carol", "readwrite", justification="y"))
    await _until(lambda: hook.accepted("r-next"), what="the next notification")
    records = await read_until(
        bus.bootstrap, bus.prefix + LIFECYCLE.dlq, lambda rs: any(b"NotifyRefused" in r.value for r in rs)
    )
    letter = next(DeadLetter.model_validate_json(r.value) for r in records if b"NotifyRefused" in r.value)
    assert letter.reason == "notification webhook refused it: HTTP 400"
    assert letter.consumer == bus.prefix + "flow-engine.notify"
    assert json.loads(base64.b64decode(letter.value_b64 or ""))["request_id"] == "r-refused"
    dumped = letter.model_dump_json()
    assert "CANARY" not in dumped and "hooks" not in dumped
    assert hook.accepted("r-refused") == []


def test_an_empty_webhook_url_leaves_notifications_off(idp: TestIssuer, signing_key: str) -> None:
    """docker-compose passes `${LATCHKEY_NOTIFY_WEBHOOK_URL:-}`: empty must mean off, not a broken hook."""
    settings = engine_settings("127.0.0.1:1", "postgresql+psycopg://x@127.0.0.1:1/x", "p.", idp, signing_key)
    assert (
        FlowEngine(settings.model_copy(update={"notify_webhook_url": None}), configure_process=False).notifier
        is None
    )
    off = type(settings).model_validate({**settings.model_dump(), "notify_webhook_url": "  "})
    assert off.notify_webhook_url is None
    assert FlowEngine(off, configure_process=False).notifier is None
    on = type(settings).model_validate(
        {**settings.model_dump(), "notify_webhook_url": "http://127.0.0.1:9/h"}
    )
    assert FlowEngine(on, configure_process=False).notifier is not None
