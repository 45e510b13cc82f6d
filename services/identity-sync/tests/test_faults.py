"""Throttling, transient errors, token expiry and malformed pages are retried as the server asks; a
run that fails part-way publishes nothing and the next run converges."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from latchkey.identity_sync.providers.base import ProviderError
from latchkey.identity_sync.store import SCHEMA
from latchkey.identity_sync.testing import FakeIdp, FaultPlan, Population
from latchkey.identity_sync.testing.harness import Harness, assert_matches_population
from latchkey.identity_sync.testing.providers import make_provider

pytestmark = pytest.mark.infra


def gap_after_first(plan: FaultPlan, path: str, status: int) -> float:
    """Seconds between the first `status` answer on `path` and the next request to it."""
    records = [r for r in plan.log if path in r.path]
    first = next(i for i, r in enumerate(records) if r.status == status)
    return records[first + 1].at - records[first].at


@pytest.mark.parametrize("variant", ["okta:ssws", "graph:delta"])
async def test_throttling_and_5xx_are_retried_after_the_servers_delay(harness: Harness, variant: str) -> None:
    kind = variant.split(":")[0]
    async with FakeIdp(kind, Population(80, 6, nested=kind != "okta"), page_size=20) as fake:
        users_path = "/api/v1/users" if kind == "okta" else "/users/delta"
        groups_path = "/api/v1/groups" if kind == "okta" else "/groups/delta"
        fake.faults.add("throttle", path=users_path, after=1, retry_after=0.6)
        fake.faults.add("status", path=groups_path, status=503, retry_after=0.4)
        provider = make_provider(variant, fake)

        published = await harness.sync(provider)

        assert_matches_population(published, fake.population, nested=kind != "okta")
        assert gap_after_first(fake.faults, users_path, 429) >= 0.5  # Retry-After / X-Rate-Limit-Reset
        assert gap_after_first(fake.faults, groups_path, 503) >= 0.35
        assert provider.stats.throttled == 1 and provider.stats.retries == 2
        await provider.aclose()


async def test_okta_waits_for_the_rate_limit_window_instead_of_hammering(harness: Harness) -> None:
    async with FakeIdp(
        "okta", Population(40, 3, nested=False), page_size=10, rate_limit=3, rate_window_s=1.0
    ) as fake:
        provider = make_provider("okta:ssws", fake, concurrency=1)
        published = await harness.sync(provider)
        assert_matches_population(published, fake.population, nested=False)
        # X-Rate-Limit-Remaining reached 0 and the client paused until the reset instead of earning 429s
        assert len(fake.faults.log) > 6
        assert fake.faults.statuses().count(429) == 0
        await provider.aclose()


@pytest.mark.parametrize("variant", ["graph:delta", "graph:certificate", "okta:private_key_jwt", "google:sa"])
async def test_token_expiry_mid_sync_refreshes_and_completes(harness: Harness, variant: str) -> None:
    kind = variant.split(":")[0]
    async with FakeIdp(kind, Population(80, 6, nested=kind != "okta"), page_size=10) as fake:
        fake.faults.add("expire_token", after=3)
        provider = make_provider(variant, fake)
        published = await harness.sync(provider)
        assert_matches_population(published, fake.population, nested=kind != "okta")
        assert fake.token_requests == 2
        assert 401 in fake.faults.statuses()
        await provider.aclose()


async def test_scim_rereads_a_rotated_token_file_on_401(harness: Harness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from latchkey.identity_sync.providers.http import StaticToken

    async with FakeIdp("scim", Population(50, 4), page_size=10) as fake:
        token_file = tmp_path / "token"
        token_file.write_text(fake.api_token)
        provider = make_provider("scim:bearer", fake, token=StaticToken("Bearer", token_file=token_file))
        await harness.sync(provider)
        fake.api_token = "rotated-token"
        token_file.write_text("rotated-token")
        fake.population.change_email(1, "one@rotated.test")
        published = await harness.sync(provider)
        assert [p.key for p in published] == [fake.population.users[1].id]
        await provider.aclose()


@pytest.mark.parametrize("variant", ["scim:bearer", "graph:delta"])
async def test_malformed_page_is_fetched_again(harness: Harness, variant: str) -> None:
    kind = variant.split(":")[0]
    async with FakeIdp(kind, Population(60, 4), page_size=10) as fake:
        fake.faults.add("malformed", path="/Users" if kind == "scim" else "/users", after=2)
        provider = make_provider(variant, fake)
        published = await harness.sync(provider)
        assert_matches_population(published, fake.population, nested=True)
        assert provider.stats.retries == 1
        await provider.aclose()


async def test_run_failing_mid_listing_publishes_nothing_and_next_run_converges(harness: Harness) -> None:
    async with FakeIdp("okta", Population(100, 8, nested=False), page_size=10) as fake:
        provider = make_provider("okta:ssws", fake, max_retries=2)
        await harness.sync(provider)
        fake.population.change_email(3, "three@new.test")
        fake.population.deactivate(4)
        fake.population.remove_member(1, min(fake.population.groups[1].members))
        # group member listings fail for good half-way through the groups
        fake.faults.add("status", path="/users", after=14, count=100, status=500, retry_after=0)

        with pytest.raises(ProviderError):
            await harness.engine(provider).run("full")
        await harness.drain_outbox()
        assert await harness.reader.new() == []
        async with harness.service.engine.connect() as conn:
            email = await conn.scalar(
                sa.text(f'SELECT email FROM "{SCHEMA}".users WHERE user_id = :u'),
                {"u": fake.population.users[3].id},
            )
            failed = await conn.scalar(
                sa.text(f"SELECT count(*) FROM \"{SCHEMA}\".sync_runs WHERE status = 'failed'")
            )
        assert email == "user3@example.test" and failed == 1

        fake.faults.faults.clear()
        published = await harness.sync(provider)
        assert sorted(p.type for p in published) == [
            "identity.group.upserted",
            "identity.user.deactivated",
            "identity.user.upserted",
        ]
        await provider.aclose()


async def test_a_scim_listing_that_stops_short_fails_instead_of_deactivating_the_rest(
    harness: Harness,
) -> None:
    """A SCIM server answers an empty page before the totalResults it announced: taking the listing as
    complete would deactivate everyone after that page (and revoke their access). The run fails,
    nothing is published, and the next run converges."""
    async with FakeIdp("scim", Population(30, 3, nested=False), page_size=10) as fake:
        provider = make_provider("scim", fake, max_retries=1)
        await harness.sync(provider)
        fake.faults.add("empty_page", path="/scim/v2/Users", after=1, count=100)
        with pytest.raises(ProviderError, match="listing is incomplete"):
            await harness.engine(provider).run("full")
        await harness.drain_outbox()
        assert await harness.reader.new() == []
        async with harness.service.engine.connect() as conn:
            active = await conn.scalar(sa.text(f'SELECT count(*) FROM "{SCHEMA}".users WHERE active'))
        assert active == 30
        fake.faults.faults.clear()
        assert await harness.sync(provider) == []  # nothing changed in the directory
        await provider.aclose()
