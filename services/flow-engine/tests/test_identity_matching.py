"""Which synced person a request's ID token names, and which groups a flow's group reference names,
through a running flow-engine on real Kafka + PostgreSQL: an email the IdP did not verify names nobody
(the "nOAuth" hole), Entra ID's `oid` does; a group name several synced groups share names none of them,
for requesters, for approvers and for LATCHKEY_ADMIN_GROUPS."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from latchkey.contracts import (
    FLOWS,
    GROUPS,
    REQUESTS,
    USERS,
    AccessFlowUpserted,
    GroupDeleted,
    GroupUpserted,
    RequestSubmitted,
    ReviewApproved,
    RevokeRequested,
    UserUpserted,
)
from latchkey.flow_engine.app import FlowEngine
from latchkey.flow_engine.domain.flow import AccessFlow, flow_digest
from latchkey.runtime.testing.oidc import TestIssuer

from .conftest import Bus
from .test_requests import activate, rid, submit, until_stored

pytestmark = pytest.mark.infra


def ask(idp: TestIssuer, request_id: str, token: str, **kw: Any) -> RequestSubmitted:
    values: dict[str, Any] = {"resource": "orders-db", "integration_id": "pg-prod", "permission": "readonly"}
    values.update(kw)
    return RequestSubmitted(request_id=request_id, id_token=token, **values)


async def stored_request(engine: FlowEngine, request_id: str) -> Any:
    q = engine.store.requests
    async with engine.service.engine.connect() as conn:
        return (await conn.execute(sa.select(q.c.state).where(q.c.request_id == request_id))).first()


async def apply_flow(engine: FlowEngine, bus: Bus, document: dict[str, Any]) -> None:
    flow = AccessFlow.model_validate({"apiVersion": "latchkey/v1", "kind": "AccessFlow", **document})
    spec = flow.document()
    await bus.publish(FLOWS, AccessFlowUpserted(name=flow.name, spec=spec, digest=flow_digest(spec)))
    f = engine.store.flows
    await until_stored(engine, sa.select(f.c.digest).where(f.c.name == flow.name), (flow_digest(spec),))


async def group_stored(engine: FlowEngine, group_id: str, name: str, members: int) -> None:
    g, m = engine.store.groups, engine.store.members
    count = sa.select(sa.func.count()).where(m.c.group_id == group_id).scalar_subquery()
    await until_stored(engine, sa.select(g.c.name, count).where(g.c.group_id == group_id), (name, members))


async def test_an_unverified_email_claim_names_nobody_and_nothing_is_granted(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """Entra ID's `sub` is pairwise and its `email` claim unverified: a guest or anyone who can set
    their mail attribute could present alice's address. It matches nobody; verified, it does."""
    engine, bus = running
    forged = rid()
    await bus.publish(REQUESTS, ask(idp, forged, idp.mint("pairwise-7Hq2", "alice@example.com")))
    rejected = (await bus.wait_types(forged, "access.request.rejected"))[-1]
    assert rejected["code"] == "unverified_email"
    assert "alice@example.com is not verified by the identity provider" in rejected["reason"]
    assert "sync users by the id the token carries" in rejected["reason"]
    assert "requester_id" not in rejected
    explicit_false = rid()
    token = idp.mint("pairwise-7Hq2", "alice@example.com", email_verified=False)
    await bus.publish(REQUESTS, ask(idp, explicit_false, token))
    assert (await bus.wait_types(explicit_false, "access.request.rejected"))[-1]["code"] == "unverified_email"
    # the IdP says it verified the address (as a JSON boolean, or as the string some IdPs send)
    verified, verified_text = rid(), rid()
    await bus.publish(
        REQUESTS, ask(idp, verified, idp.mint("pairwise-7Hq2", "alice@example.com", email_verified=True))
    )
    await bus.publish(
        REQUESTS,
        ask(idp, verified_text, idp.mint("pairwise-9Zk1", "ALICE@example.com", email_verified="true")),
    )
    for request_id in (verified, verified_text):
        created = (await bus.wait_types(request_id, "access.grant.requested"))[0]
        assert created["requester_id"] == "u-alice"
    await bus.wait_commands(verified_text, 1)
    assert bus.types(forged) == ["access.request.rejected"] and bus.commands(forged) == []
    assert await stored_request(engine, forged) is None


async def test_a_verified_email_two_synced_users_share_names_neither(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """Two directory users with one address (a shared mailbox, a re-hired person's old account): a
    token matched by that email names neither of them, rather than whichever was read first."""
    engine, bus = running
    for user_id in ("u-ops-1", "u-ops-2"):
        await bus.publish(USERS, UserUpserted(user_id=user_id, email="ops@example.com", active=True))
    u = engine.store.users
    count = sa.select(sa.func.count()).where(sa.func.lower(u.c.email) == "ops@example.com")
    await until_stored(engine, count, (2,))
    request_id = rid()
    token = idp.mint("pairwise-Op1", "ops@example.com", email_verified=True)
    await bus.publish(REQUESTS, ask(idp, request_id, token))
    rejected = (await bus.wait_types(request_id, "access.request.rejected"))[-1]
    assert rejected["code"] == "ambiguous_email" and "ops@example.com" in rejected["reason"]
    assert bus.commands(request_id) == [] and await stored_request(engine, request_id) is None
    by_id = rid()  # the token of one of them, by its id, still names that one
    await bus.publish(REQUESTS, ask(idp, by_id, idp.mint("u-ops-1", "ops@example.com", email_verified=True)))
    await bus.wait_for(lambda: bus.types(by_id), what="a decision on the request by id")
    decided = bus.lifecycle(by_id)[0]
    assert decided["type"] != "access.request.rejected" and decided.get("requester_id") == "u-ops-1", decided


async def test_an_unverified_email_cannot_approve_in_someone_elses_name(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    _, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-bob", "readwrite", justification="incident 3"))
    await bus.wait_types(request_id, "access.review.requested")
    # dba@example.com is a db-admin, the step's reviewers; this token only claims to be them
    token = idp.mint("pairwise-Qx81", "dba@example.com")
    await bus.publish(REQUESTS, ReviewApproved(request_id=request_id, id_token=token))
    refused = (await bus.wait_types(request_id, "access.review.refused"))[-1]
    assert refused["reviewer_id"] == "pairwise-Qx81" and "is not verified" in refused["reason"]
    assert "access.review.recorded" not in bus.types(request_id)


async def test_an_entra_token_names_its_user_by_the_object_id_in_oid(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """identity-sync stores an Entra user under its object id, which the token carries as `oid`
    (its `sub` is pairwise); the unverified email is not needed, and not used."""
    _, bus = running
    request_id = rid()
    token = idp.mint("pairwise-Lm40", "someone@contoso.example", extra={"oid": "u-carol"})
    await bus.publish(REQUESTS, ask(idp, request_id, token))
    created = (await bus.wait_types(request_id, "access.grant.requested"))[0]
    assert created["requester_id"] == "u-carol" and created["requester_email"] == "carol@example.com"
    command = (await bus.wait_commands(request_id, 1))[0]
    assert command["principal"]["user_id"] == "u-carol"


ONCALL_FLOW = {
    "metadata": {"name": "billing-oncall"},
    "spec": {
        "requesters": {"groups": ["oncall"]},
        "access": {
            "integration": "pg-prod",
            "resources": [{"name": "billing-db"}],
            "permissions": ["readonly"],
        },
        "approval": {"automatic": True},
    },
}


def shared_name_warnings(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [
        entry
        for entry in logs
        if entry.get("group_name") == name and entry["log_level"] == "warning" and "share" in entry["event"]
    ]


async def test_a_second_group_with_a_flows_group_name_makes_the_name_match_nobody(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """In Entra ID and Google a group's display name is not unique, and users may create groups: bob
    creates a group called "oncall" and joins it. The flow naming "oncall" then matches neither group
    (not bob's, not the real one), the denial says the name is ambiguous, and flow-engine warns once."""
    engine, bus = running
    await bus.publish(GROUPS, GroupUpserted(group_id="g-oncall", name="oncall", member_ids=["u-carol"]))
    await group_stored(engine, "g-oncall", "oncall", 1)
    await apply_flow(engine, bus, ONCALL_FLOW)
    before = rid()
    await bus.publish(REQUESTS, submit(idp, before, "u-carol", resource="billing-db"))
    await bus.wait_types(before, "access.grant.requested")

    with structlog.testing.capture_logs() as logs:
        fake = GroupUpserted(group_id="g-bobs-oncall", name="oncall", member_ids=["u-bob"])
        await bus.publish(GROUPS, fake)
        await group_stored(engine, "g-bobs-oncall", "oncall", 1)
        bobs, carols = rid(), rid()
        await bus.publish(REQUESTS, submit(idp, bobs, "u-bob", resource="billing-db"))
        await bus.publish(REQUESTS, submit(idp, carols, "u-carol", resource="billing-db"))
        for request_id in (bobs, carols):
            denied = (await bus.wait_types(request_id, "access.request.denied"))[-1]
            assert "group name oncall is ambiguous" in denied["reason"]
            assert "name the group by its id in the flow" in denied["reason"]
            assert bus.commands(request_id) == []
        # the same groups again (a member more): not a new ambiguity, no second warning
        await bus.publish(
            GROUPS, GroupUpserted(group_id="g-bobs-oncall", name="oncall", member_ids=["u-bob", "u-dave"])
        )
        await group_stored(engine, "g-bobs-oncall", "oncall", 2)
        # a flow applied while the name is shared is warned about as it is applied
        await apply_flow(engine, bus, {**ONCALL_FLOW, "metadata": {"name": "billing-oncall-2"}})
    warned = shared_name_warnings(logs, "oncall")
    assert [(w["group_ids"], w.get("flows"), w.get("flow")) for w in warned] == [
        (["g-bobs-oncall", "g-oncall"], ["billing-oncall"], None),
        (["g-bobs-oncall", "g-oncall"], None, "billing-oncall-2"),
    ]

    # named by id, the real group matches again; bob's does not
    by_id = {
        "metadata": {"name": "billing-oncall"},
        "spec": {**ONCALL_FLOW["spec"], "requesters": {"groups": ["g-oncall"]}},
    }
    await apply_flow(engine, bus, by_id)
    carols_by_id, bobs_by_id = rid(), rid()
    await bus.publish(REQUESTS, submit(idp, carols_by_id, "u-carol", resource="billing-db"))
    await bus.publish(REQUESTS, submit(idp, bobs_by_id, "u-bob", resource="billing-db"))
    assert (await bus.wait_types(carols_by_id, "access.grant.requested"))[0]["flow_name"] == "billing-oncall"
    await bus.wait_types(bobs_by_id, "access.request.denied")

    # once bob's group is gone, the name is unique again and names the real group (both flows name it)
    await apply_flow(engine, bus, ONCALL_FLOW)
    await bus.publish(GROUPS, GroupDeleted(group_id="g-bobs-oncall"))
    g = engine.store.groups
    await until_stored(engine, sa.select(sa.func.count()).where(g.c.name == "oncall"), (1,))
    again = rid()
    await bus.publish(REQUESTS, submit(idp, again, "u-carol", resource="billing-db"))
    await bus.wait_types(again, "access.grant.requested")


async def test_a_group_named_like_another_groups_id_does_not_match_a_reference_to_that_id(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """A flow names its group by id, as it should in Entra ID. Bob creates a group whose display name
    is that id and joins it: the reference still names only the group with that id."""
    engine, bus = running
    await bus.publish(
        GROUPS, GroupUpserted(group_id="3f2a-oncall-id", name="On call", member_ids=["u-carol"])
    )
    await bus.publish(GROUPS, GroupUpserted(group_id="g-bobs", name="3f2a-oncall-id", member_ids=["u-bob"]))
    await group_stored(engine, "3f2a-oncall-id", "On call", 1)
    await group_stored(engine, "g-bobs", "3f2a-oncall-id", 1)
    by_id = {
        "metadata": {"name": "billing-oncall-by-id"},
        "spec": {**ONCALL_FLOW["spec"], "requesters": {"groups": ["3f2a-oncall-id"]}},
    }
    await apply_flow(engine, bus, by_id)
    carols, bobs = rid(), rid()
    await bus.publish(REQUESTS, submit(idp, bobs, "u-bob", resource="billing-db"))
    await bus.publish(REQUESTS, submit(idp, carols, "u-carol", resource="billing-db"))
    await bus.wait_types(carols, "access.grant.requested")  # carol's group is the one with that id
    await bus.wait_types(bobs, "access.request.denied")
    assert bus.commands(bobs) == []


async def test_an_approver_group_named_by_a_shared_name_lets_nobody_approve(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    engine, bus = running
    real = GroupUpserted(group_id="g-release", name="release-managers", member_ids=["u-dave"])
    await bus.publish(GROUPS, real)
    await group_stored(engine, "g-release", "release-managers", 1)
    await apply_flow(
        engine,
        bus,
        {
            "metadata": {"name": "billing-readwrite"},
            "spec": {
                "requesters": {"groups": ["engineering"]},
                "access": {
                    "integration": "pg-prod",
                    "resources": [{"name": "billing-db"}],
                    "permissions": ["readwrite"],
                },
                "approval": {"steps": [{"anyOf": [{"group": "release-managers"}]}]},
            },
        },
    )
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-bob", "readwrite", resource="billing-db"))

    def announced() -> list[dict[str, Any]]:
        return [e for e in bus.lifecycle(request_id) if e["type"] == "access.review.requested"]

    await bus.wait_for(lambda: announced(), what="the step announced")
    assert [r["user_id"] for r in announced()[0]["reviewers"]] == ["u-dave"]
    # alice makes a group of the same name: the step is announced again, open to nobody
    await bus.publish(
        GROUPS, GroupUpserted(group_id="g-alices-release", name="release-managers", member_ids=["u-alice"])
    )
    await bus.wait_for(lambda: len(announced()) == 2, what="the step announced again")
    assert (announced()[1]["update"], announced()[1]["reviewers"]) == (True, [])
    for who in ("u-alice", "u-dave"):
        token = idp.mint(who, f"{who.removeprefix('u-')}@example.com")
        await bus.publish(REQUESTS, ReviewApproved(request_id=request_id, id_token=token))
    await bus.wait_for(lambda: bus.types(request_id).count("access.review.refused") == 2, what="two refusals")
    reasons = [e["reason"] for e in bus.lifecycle(request_id) if e["type"] == "access.review.refused"]
    assert all("group name release-managers is ambiguous" in r for r in reasons), reasons
    assert "access.review.recorded" not in bus.types(request_id) and bus.commands(request_id) == []
    assert tuple(await stored_request(engine, request_id)) == ("pending",)


async def test_a_group_called_like_the_admin_group_cannot_revoke_anyones_grant(
    running: tuple[FlowEngine, Bus], idp: TestIssuer
) -> None:
    """LATCHKEY_ADMIN_GROUPS=["admins"] in this engine: a second group called "admins" makes the name
    name nobody, so its members (and the real admins, until the setting names the group by id) are
    not admins."""
    engine, bus = running
    request_id = rid()
    await bus.publish(REQUESTS, submit(idp, request_id, "u-carol"))
    await activate(bus, request_id)
    await bus.publish(GROUPS, GroupUpserted(group_id="g-fake-admins", name="admins", member_ids=["u-dave"]))
    await group_stored(engine, "g-fake-admins", "admins", 1)
    token = idp.mint("u-dave", "dave@example.com")
    await bus.publish(REQUESTS, RevokeRequested(request_id=request_id, id_token=token))
    refused = (await bus.wait_types(request_id, "access.action.refused"))[-1]
    assert (refused["actor_id"], refused["code"]) == ("u-dave", "not_allowed")
    assert "access.grant.revoking" not in bus.types(request_id)
    assert len(bus.commands(request_id)) == 1  # the grant, no revoke
