"""Each kind of IdP change publishes exactly its events and nothing else, on the delta-query paths
(Graph delta links, Okta's search/filter since a high-water mark) and on the listing-diff path (SCIM)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from latchkey.contracts.identity import GroupUpserted, UserDeactivated, UserUpserted
from latchkey.identity_sync.testing import FakeIdp, Population
from latchkey.identity_sync.testing.harness import Harness, by_type
from latchkey.identity_sync.testing.providers import make_provider

pytestmark = pytest.mark.infra

U = "identity.user.upserted"
D = "identity.user.deactivated"
G = "identity.group.upserted"
GD = "identity.group.deleted"


@pytest.fixture(params=["graph:delta", "okta:ssws", "scim:bearer"])
async def fake(request: pytest.FixtureRequest) -> AsyncIterator[FakeIdp]:
    kind = request.param.split(":")[0]
    async with FakeIdp(kind, Population(60, 8, nested=kind != "okta"), page_size=20) as idp:
        idp.variant = request.param  # type: ignore[attr-defined]
        yield idp


async def test_each_change_publishes_exactly_its_events(harness: Harness, fake: FakeIdp) -> None:
    population = fake.population
    provider = make_provider(fake.variant, fake)  # type: ignore[attr-defined]
    nested = fake.kind != "okta"
    # Graph reports deletions (@removed) and SCIM is listed whole; Okta's change queries do not report
    # deletions, which reach an Okta deployment with the next full sync
    incremental_sees_deletions = fake.kind != "okta"
    await harness.sync(provider)

    # add a user to group 2 (a group nested in no other)
    new = population.add_user(groups=(2,))
    published = await harness.sync(provider, "incremental")
    assert by_type(published) == {U: [new.id], G: [population.groups[2].id]}
    assert set(next(p.event for p in published if isinstance(p.event, GroupUpserted)).member_ids) == (
        population.flattened_members(population.groups[2], nested=nested)
    )

    # change an email
    population.change_email(5, "five@renamed.test")
    published = await harness.sync(provider, "incremental")
    assert by_type(published) == {U: [population.users[5].id]}
    assert isinstance(published[0].event, UserUpserted) and published[0].event.email == "five@renamed.test"

    # remove a member from a group
    member = min(population.groups[2].members)
    population.remove_member(2, member)
    published = await harness.sync(provider, "incremental")
    assert by_type(published) == {G: [population.groups[2].id]}
    assert population.users[member].id not in published[0].event.member_ids  # type: ignore[union-attr]

    # deactivate (suspend)
    population.deactivate(7)
    published = await harness.sync(provider, "incremental")
    assert by_type(published) == {D: [population.users[7].id]}
    assert isinstance(published[0].event, UserDeactivated)

    # deprovision (Okta: DEPROVISIONED, which its plain user listing leaves out; memberships kept)
    population.deprovision(9)
    published = await harness.sync(provider, "incremental")
    assert by_type(published) == {D: [population.users[9].id]}

    # rename a group
    population.rename_group(4, "group-renamed")
    published = await harness.sync(provider, "incremental")
    assert by_type(published) == {G: [population.groups[4].id]}
    assert isinstance(published[0].event, GroupUpserted) and published[0].event.name == "group-renamed"

    # delete a user: deactivated, and dropped from every group (and the groups nesting those)
    before = {g.id: population.flattened_members(g, nested=nested) for g in population.live_groups()}
    population.delete_user(8)
    after = {g.id: population.flattened_members(g, nested=nested) for g in population.live_groups()}
    changed_groups = sorted(k for k in after if after[k] != before[k])
    published = await harness.sync(provider, "incremental")
    if incremental_sees_deletions:
        assert by_type(published) == {D: [population.users[8].id], G: changed_groups}
    else:
        assert by_type(published) == {G: changed_groups}
        assert by_type(await harness.sync(provider, "full")) == {D: [population.users[8].id]}

    # delete a group: GroupDeleted and a tombstone for its key
    population.delete_group(3)
    published = await harness.sync(provider, "incremental")
    if not incremental_sees_deletions:
        assert published == []
        published = await harness.sync(provider, "full")
    assert by_type(published) == {GD: [population.groups[3].id], "tombstone": [population.groups[3].id]}

    # nothing changed: nothing published, by either kind of run
    assert await harness.sync(provider, "incremental") == []
    assert await harness.sync(provider, "full") == []
    await provider.aclose()
