"""The command line: `run-once --dry-run` prints and changes nothing; a `run-once` killed mid-listing
publishes nothing and the next one converges."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from latchkey.identity_sync.store import SCHEMA
from latchkey.identity_sync.testing import FakeIdp, Population
from latchkey.identity_sync.testing.harness import Harness, by_type
from latchkey.runtime.testing.ports import free_port

pytestmark = pytest.mark.infra

EXAMPLE = Path(__file__).parents[3] / "examples" / "identity" / "directory.yaml"


def cli_env(harness: Harness, **extra: str) -> dict[str, str]:
    settings = harness.settings
    return {
        **os.environ,
        "LATCHKEY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "LATCHKEY_DATABASE_URL": settings.sync_database_url,
        "LATCHKEY_TOPIC_PREFIX": settings.topic_prefix,
        "LATCHKEY_LOG_LEVEL": "INFO",
        **extra,
    }


async def run_cli(env: dict[str, str], *args: str, timeout: float = 90) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "latchkey.identity_sync",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode or 0, out.decode(), err.decode()


async def user_rows(harness: Harness) -> int:
    async with harness.service.engine.connect() as conn:
        return int(await conn.scalar(sa.text(f'SELECT count(*) FROM "{SCHEMA}".users')) or 0)


async def test_dry_run_prints_changes_and_publishes_nothing(harness: Harness) -> None:
    env = cli_env(harness, LATCHKEY_IDP_PROVIDER="file", LATCHKEY_IDP_FILE=str(EXAMPLE))
    code, out, _ = await run_cli(env, "run-once", "--dry-run")
    assert code == 0
    assert "would publish user.upserted     u-alice <alice@example.com> active manager=u-carol" in out
    assert "would publish group.upserted    g-engineering 'engineering' members=4" in out
    assert await user_rows(harness) == 0
    assert await harness.reader.new() == []

    code, out, _ = await run_cli(env, "run-once")
    assert code == 0 and "published user.upserted" in out
    assert len(await harness.reader.new()) == 7


async def test_a_database_out_of_reach_is_one_line_without_its_password(harness: Harness) -> None:
    env = cli_env(
        harness,
        LATCHKEY_IDP_PROVIDER="file",
        LATCHKEY_IDP_FILE=str(EXAMPLE),
        LATCHKEY_DATABASE_URL=f"postgresql://latchkey:canary-93ab@127.0.0.1:{free_port()}/latchkey",
    )
    code, out, err = await run_cli(env, "run-once", "--dry-run")
    assert code == 2, err
    assert err.strip().endswith("(LATCHKEY_DATABASE_URL): OperationalError"), err
    assert "cannot reach PostgreSQL at 127.0.0.1:" in err and "Traceback" not in err
    assert "canary-93ab" not in out + err


async def test_run_killed_mid_listing_publishes_nothing_and_restart_converges(harness: Harness) -> None:
    async with FakeIdp("okta", Population(150, 10, nested=False), page_size=20) as fake:
        env = cli_env(
            harness,
            LATCHKEY_IDP_PROVIDER="okta",
            LATCHKEY_IDP_URL=fake.api_url,
            LATCHKEY_IDP_TOKEN=fake.api_token,
            LATCHKEY_IDP_PAGE_SIZE="20",
            LATCHKEY_IDP_MAX_RETRY_DELAY_S="120",
        )
        # half-way through the group listings the IdP throttles for two minutes: the run hangs there
        fake.faults.add("throttle", path="/groups/", after=5, retry_after=120)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "latchkey.identity_sync",
            "run-once",
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(600):
            if 429 in fake.faults.statuses():
                break
            await asyncio.sleep(0.1)
        assert 429 in fake.faults.statuses()
        process.send_signal(signal.SIGKILL)
        await process.wait()

        assert await user_rows(harness) == 0
        await harness.drain_outbox()
        assert await harness.reader.new() == []

        fake.faults.faults.clear()
        code, _, err = await run_cli(env, "run-once")
        assert code == 0, err
        published = await harness.reader.new()
        assert len(by_type(published)["identity.user.upserted"]) == 150
        assert len(by_type(published)["identity.group.upserted"]) == 10
        leaked = [v for v in fake.population.pii_values() if v in err]
        assert leaked == [] and "identity sync finished" in err
