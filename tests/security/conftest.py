"""One running system for the security suite: every service as a process, the connector logging in to
the target with a canary password that must never show up anywhere else."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from latchkey.runtime.testing import Infra
from tests.support.scenario import RunningLatchkey, latchkey_running

CANARY_USER = f"canary_admin_{secrets.token_hex(3)}"
CANARY_PASSWORD = f"CANARY-{secrets.token_hex(16)}"


@pytest.fixture(scope="package")
async def secured(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningLatchkey]:
    async with latchkey_running(
        kafka_bootstrap=infra.kafka_bootstrap,
        admin_database_url=infra.admin_database_url,
        work_dir=tmp_path_factory.mktemp("security"),
        target_login=(CANARY_USER, CANARY_PASSWORD),
    ) as running:
        yield running
