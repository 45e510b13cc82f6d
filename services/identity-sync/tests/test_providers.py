"""Full sync of each provider against its fake server: exactly the population, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from latchkey.identity_sync.providers.base import IdentityProvider
from latchkey.identity_sync.testing import FakeIdp, Population
from latchkey.identity_sync.testing.harness import Harness, assert_matches_population
from latchkey.identity_sync.testing.providers import PROVIDERS, make_provider

pytestmark = pytest.mark.infra


@pytest.fixture(params=PROVIDERS)
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeIdp]:
    kind = request.param.split(":")[0]
    async with FakeIdp(kind, Population(120, 12, nested=kind != "okta"), page_size=25) as idp:
        idp.variant = request.param  # type: ignore[attr-defined]
        yield idp


async def test_full_sync_publishes_the_directory_and_a_second_run_nothing(
    harness: Harness, fake: FakeIdp
) -> None:
    provider = make_provider(fake.variant, fake)  # type: ignore[attr-defined]
    published = await harness.sync(provider)
    assert_matches_population(published, fake.population, nested=fake.kind != "okta")
    assert await harness.sync(provider, "incremental") == []
    assert await harness.sync(provider, "full") == []
    await provider.aclose()


_ = Callable, IdentityProvider
