"""Full sync of each provider against its fake server: exactly the population, nothing more."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from latchkey.contracts.identity import GroupUpserted, UserUpserted
from latchkey.identity_sync.providers.base import IdentityProvider
from latchkey.identity_sync.testing import FakeIdp, Population

from .conftest import Harness, Published
from .providers import PROVIDERS, make_provider

pytestmark = pytest.mark.infra


def assert_matches_population(published: list[Published], population: Population, *, nested: bool) -> None:
    users = {p.key: p.event for p in published if isinstance(p.event, UserUpserted)}
    groups = {p.key: p.event for p in published if isinstance(p.event, GroupUpserted)}
    assert len(published) == len(users) + len(groups), "only upserts on a first sync"
    assert users.keys() == {u.id for u in population.live_users()}
    for user in population.live_users():
        event = users[user.id]
        manager = population.users[user.manager].id if user.manager is not None else None
        assert (event.email, event.active, event.manager_id) == (user.email, user.active, manager)
    assert groups.keys() == {g.id for g in population.live_groups()}
    for group in population.live_groups():
        assert groups[group.id].name == group.name
        assert set(groups[group.id].member_ids) == population.flattened_members(group, nested=nested)


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
