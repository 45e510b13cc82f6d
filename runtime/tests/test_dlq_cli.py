"""`latchkey-dlq` on a real broker: a handler bug dead-letters an event; after the fix, replaying it
delivers the same event (same event_id) to the consumer, and nothing else is sent."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from latchkey.contracts import REQUESTS, RequestSubmitted
from latchkey.runtime import Batch, ensure_topics
from latchkey.runtime.dlq_cli import cli
from latchkey.runtime.testing.bus import produce, read_until

from .test_delivery import consuming, settings_for, wait_for

pytestmark = pytest.mark.infra

TOKEN = "eyJhbGciOiJSUzI1NiJ9.canary-id-token.sig"


async def dlq(kafka_bootstrap: str, topic_prefix: str, *args: str) -> Result:
    """Run the CLI in a thread (it runs its own event loop), configured like a service."""
    env = {"LATCHKEY_KAFKA_BOOTSTRAP": kafka_bootstrap, "LATCHKEY_TOPIC_PREFIX": topic_prefix}
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)


async def test_a_fixed_bug_s_dead_letters_are_replayed_once_and_processed(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    settings = settings_for(kafka_bootstrap, topic_prefix).model_copy(update={"handler_max_attempts": 2})
    await ensure_topics(settings, [REQUESTS])
    events = [
        RequestSubmitted(
            request_id=f"r{i}", id_token=TOKEN, integration_id="pg", resource="db", permission="ro"
        )
        for i in range(3)
    ]
    seen: list[tuple[str, str]] = []
    fixed = False

    async def handler(batch: Batch[Any]) -> None:
        if not fixed and any(e.request_id == "r1" for e in batch.events):
            raise ValueError("bug triggered by r1")
        seen.extend((e.request_id, str(e.event_id)) for e in batch.events)

    async with consuming(settings, handler, "dlq-cli") as writer:
        await produce(kafka_bootstrap, settings.topic(REQUESTS.name), events, key="k")
        await wait_for(lambda: {r for r, _ in seen} == {"r0", "r2"} and writer.count == 1, timeout=60)

        listed = await dlq(kafka_bootstrap, topic_prefix, "list", "access.requests.v1")
        assert listed.exit_code == 0, listed.output
        assert "HandlerError" in listed.output and "bug triggered by r1" in listed.output
        assert "1 of 1 dead letters" in listed.output
        assert TOKEN not in listed.output and "canary" not in listed.output, "values are not shown"
        where = listed.output.split()[0]  # PARTITION:OFFSET of the only dead letter

        # a selector is required; an unknown offset is named; a dry run sends nothing
        nothing = await dlq(kafka_bootstrap, topic_prefix, "replay", "access.requests.v1")
        assert nothing.exit_code == 2 and "say what to replay" in nothing.output
        unknown = await dlq(
            kafka_bootstrap, topic_prefix, "replay", "access.requests.v1", "--offset", "0:999"
        )
        assert unknown.exit_code == 2 and "no dead letter at 0:999" in unknown.output
        dry = await dlq(kafka_bootstrap, topic_prefix, "replay", "access.requests.v1", "--all", "--dry-run")
        assert dry.exit_code == 0 and f"would replay {where}" in dry.output

        fixed = True
        done = await dlq(kafka_bootstrap, topic_prefix, "replay", "access.requests.v1", "--offset", where)
        assert done.exit_code == 0, done.output
        assert f"replayed {where} → {settings.topic(REQUESTS.name)}" in done.output
        await wait_for(lambda: any(r == "r1" for r, _ in seen), timeout=30)

        # a value the DLQ had to cut is never replayed: its bytes are incomplete
        await writer.write(
            REQUESTS,
            partition=0,
            offset=99,
            key=b"big",
            value=b"x" * (600 * 1024),
            headers={},
            reason="HandlerError: too big to handle",
            error_type="HandlerError",
        )
        skipped = await dlq(
            kafka_bootstrap, topic_prefix, "replay", "access.requests.v1", "--all", "--dry-run"
        )
        assert (
            "its value was truncated in the DLQ" in skipped.output
            and f"would replay {where}" in skipped.output
        )

    original = next(e for e in events if e.request_id == "r1")
    assert [(r, i) for r, i in seen if r == "r1"] == [("r1", str(original.event_id))], seen
    source = await read_until(kafka_bootstrap, settings.topic(REQUESTS.name), lambda rs: len(rs) >= 4)
    assert len(source) == 4, "three originals and the one replay, nothing more"
    assert source[-1].key == b"k" and RequestSubmitted.model_validate_json(source[-1].value) == original
