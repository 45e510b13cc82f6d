"""Okta incremental runs: changes since the stored high-water mark through Okta's own queries
(`search=lastUpdated gt`, `filter=lastUpdated gt … or lastMembershipUpdated gt …`), members fetched
only for the groups that changed, exactly the expected events, and the fake answering those queries
the way Okta does."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import sqlalchemy as sa

from latchkey.identity_sync.store import SCHEMA
from latchkey.identity_sync.testing import FakeIdp, Population
from latchkey.identity_sync.testing.harness import Harness, by_type
from latchkey.identity_sync.testing.providers import make_provider

U = "identity.user.upserted"
D = "identity.user.deactivated"
G = "identity.group.upserted"
GD = "identity.group.deleted"
STAMP = r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"'


def member_fetches(fake: FakeIdp, since: int) -> list[str]:
    """Group ids whose members were fetched after request number `since` of the fake's log."""
    prefix = "/api/v1/groups/"
    return sorted({r.path.split("/")[4] for r in fake.faults.log[since:] if r.path.startswith(prefix)})


@pytest.mark.infra
async def test_okta_incremental_run_publishes_exactly_the_changes_since_last_run(harness: Harness) -> None:
    async with FakeIdp("okta", Population(80, 10, nested=False), page_size=20) as fake:
        population = fake.population
        # no overlap: every query must start exactly at the previous run's start (Okta's whole-second Date)
        provider = make_provider("okta:ssws", fake, overlap_s=0)
        await harness.sync(provider)
        async with harness.service.engine.connect() as conn:
            cursor = await conn.scalar(
                sa.text(f'SELECT cursor FROM "{SCHEMA}".sync_cursors WHERE provider = :p'), {"p": "okta"}
            )
        assert re.fullmatch(STAMP, f'"{cursor["since"]}"'), "high-water mark kept with the snapshot"
        await asyncio.sleep(1.1)  # the changes below are after the full run's start, to the second

        new = population.add_user(groups=(2,))
        population.change_email(5, "five@renamed.test")
        removed = min(population.groups[6].members)
        population.remove_member(6, removed)
        population.deactivate(7)  # SUSPENDED
        population.deprovision(9)  # DEPROVISIONED: only search (not the plain listing) returns it
        population.rename_group(4, "group-renamed")
        await asyncio.sleep(1.1)  # and the incremental run starts a second later
        requests_before = len(fake.faults.log)

        published = await harness.sync(provider, "incremental")

        assert by_type(published) == {
            U: sorted([new.id, population.users[5].id]),
            D: sorted([population.users[7].id, population.users[9].id]),
            G: sorted(population.groups[g].id for g in (2, 4, 6)),
        }
        groups = {p.key: p.event for p in published if p.type == G}
        assert population.users[removed].id not in groups[population.groups[6].id].member_ids  # type: ignore[union-attr]
        assert new.id in groups[population.groups[2].id].member_ids  # type: ignore[union-attr]
        # Okta's change queries, with real field names and date syntax, and members of changed groups only
        listings = ("/api/v1/users", "/api/v1/groups")
        queries = [r.query for r in fake.faults.log[requests_before:] if r.path in listings]
        assert any(re.fullmatch(f"limit=\\d+&search=lastUpdated gt {STAMP}", q) for q in queries), queries
        assert any(
            re.fullmatch(f"limit=\\d+&filter=lastUpdated gt {STAMP} or lastMembershipUpdated gt {STAMP}", q)
            for q in queries
        ), queries
        assert member_fetches(fake, requests_before) == sorted(population.groups[g].id for g in (2, 4, 6))

        # nothing changed since: nothing published, no group members fetched
        requests_before = len(fake.faults.log)
        assert await harness.sync(provider, "incremental") == []
        assert member_fetches(fake, requests_before) == []
        # and a full run agrees with what the incremental runs published
        assert await harness.sync(provider, "full") == []
        await provider.aclose()


@pytest.mark.infra
async def test_okta_deletions_reach_the_snapshot_with_the_next_full_run(harness: Harness) -> None:
    async with FakeIdp("okta", Population(60, 8, nested=False), page_size=20) as fake:
        population = fake.population
        provider = make_provider("okta:ssws", fake)
        await harness.sync(provider)
        user = population.users[3]
        user_groups = sorted(g.id for g in population.groups if 3 in g.members)
        population.deprovision(3)  # Okta deletes only deactivated users
        population.delete_user(3)
        population.delete_group(5)
        user_groups = [g for g in user_groups if g != population.groups[5].id]

        # Okta's change queries return neither: the incremental run sees only the memberships that went
        published = await harness.sync(provider, "incremental")
        assert by_type(published) == {G: user_groups}

        published = await harness.sync(provider, "full")
        assert by_type(published) == {
            D: [user.id],
            GD: [population.groups[5].id],
            "tombstone": [population.groups[5].id],
        }
        await provider.aclose()


async def test_fake_okta_answers_search_and_filter_like_okta() -> None:
    async with FakeIdp("okta", Population(30, 4, nested=False), page_size=50) as fake:
        fake.population.deprovision(4)
        fake.population.add_member(1, 7)
        headers = {"Authorization": f"SSWS {fake.api_token}"}
        async with httpx.AsyncClient(base_url=fake.api_url, headers=headers) as http:
            listed = (await http.get("/api/v1/users")).json()
            deprovisioned = fake.population.users[4].id
            assert deprovisioned not in {u["id"] for u in listed}, "the plain listing leaves them out"
            found = (await http.get("/api/v1/users", params={"search": 'status eq "DEPROVISIONED"'})).json()
            assert [(u["id"], u["status"]) for u in found] == [(deprovisioned, "DEPROVISIONED")]
            since = '"2024-05-01T09:00:00.000Z"'
            changed = (await http.get("/api/v1/users", params={"search": f"lastUpdated gt {since}"})).json()
            assert [u["id"] for u in changed] == [deprovisioned]
            groups = (
                await http.get(
                    "/api/v1/groups",
                    params={
                        "filter": 'lastUpdated gt "2024-05-01T09:00:00.000Z" '
                        'or lastMembershipUpdated gt "2024-05-01T09:00:00.000Z"'
                    },
                )
            ).json()
            assert [g["id"] for g in groups] == [fake.population.groups[1].id]
            assert groups[0]["lastMembershipUpdated"] > groups[0]["lastUpdated"]
            # the next link carries the query on
            paged = await http.get("/api/v1/users", params={"search": 'status eq "ACTIVE"', "limit": 10})
            assert "search=status+eq+%22ACTIVE%22" in paged.headers["Link"]
            # names Okta does not filter on, `ne`, and malformed dates are refused as Okta refuses them
            for bad in (
                {"filter": 'lastUpdate gt "2024-05-01T09:00:00.000Z"'},
                {"filter": 'profile.city eq "x"'},
                {"search": 'status ne "ACTIVE"'},
                {"search": 'lastUpdated gt "yesterday"'},
            ):
                refused = await http.get("/api/v1/users", params=bad)
                assert refused.status_code == 400 and refused.json()["errorCode"] == "E0000031", bad
