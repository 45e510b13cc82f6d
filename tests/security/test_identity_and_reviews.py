"""Who is asking and who is approving comes only from a verified ID token, and only eligible people
count: bad tokens are rejected with a reason, self-approval and ineligible reviewers are refused, and
in none of these cases is anything granted."""

from __future__ import annotations

import asyncio

import pytest

from latchkey.runtime.testing.oidc import SigningKey
from tests.support.scenario import ALICE, BOB, CAROL, DAVE, ERIN, RunningLatchkey
from tests.support.system import Requester

pytestmark = [pytest.mark.infra, pytest.mark.timeout(120)]

GRANTING = {"access.grant.requested", "access.grant.activated", "access.request.approved"}


def _bad_token(running: RunningLatchkey, kind: str) -> str:
    issuer = running.issuer
    if kind == "wrong issuer":
        return issuer.mint(*ALICE, issuer="https://login.evil.example")
    if kind == "wrong audience":
        return issuer.mint(*ALICE, audience="some-other-app")
    if kind == "expired":
        return issuer.mint(*ALICE, expires_in=-300)
    if kind == "unknown key":
        return issuer.mint(*ALICE, key=SigningKey.generate())
    if kind == "forged with the real kid":
        return issuer.forge(*ALICE, same_kid=True)
    if kind == "alg none":
        _header, payload, _ = issuer.mint(*ALICE).split(".")
        return f"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."
    if kind == "garbage":
        return "definitely-not-a-jwt"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "wrong issuer",
        "wrong audience",
        "expired",
        "unknown key",
        "forged with the real kid",
        "alg none",
        "garbage",
    ],
)
async def test_request_with_a_bad_id_token_is_rejected_with_a_reason(
    secured: RunningLatchkey, kind: str
) -> None:
    request_id = await secured.submit(ALICE, Requester(*ALICE), id_token=_bad_token(secured, kind))
    rejected = await secured.wait_for_type(request_id, "access.request.rejected", 30)
    assert rejected.code and rejected.reason, rejected  # type: ignore[attr-defined]
    await asyncio.sleep(1)
    await secured.lifecycle.poll()
    assert not GRANTING & set(secured.lifecycle.types(request_id)), secured.lifecycle.types(request_id)


async def test_deactivated_user_cannot_request(secured: RunningLatchkey) -> None:
    request_id = await secured.submit(ERIN, Requester(*ERIN))
    events = await secured.wait_lifecycle(
        request_id,
        lambda types: (
            bool({"access.request.denied", "access.request.rejected"} & set(types))
            or bool(GRANTING & set(types))
        ),
        30,
        "decision on a deactivated user's request",
    )
    assert not GRANTING & {e.type for e in events}, [e.type for e in events]


async def _pending_readwrite(running: RunningLatchkey, who: tuple[str, str]) -> str:
    request_id = await running.submit(who, Requester(*who), permission="readwrite", duration_seconds=60)
    created = await running.wait_for_type(request_id, "access.request.created", 30)
    assert not created.automatic  # type: ignore[attr-defined]
    return request_id


async def _refused(
    running: RunningLatchkey, request_id: str, reviewer: tuple[str, str], token: str | None = None
) -> None:
    before = running.lifecycle.types(request_id).count("access.review.refused")
    await running.approve(request_id, reviewer, "looks fine to me", token=token)
    await running.wait_lifecycle(
        request_id,
        lambda types: types.count("access.review.refused") > before or "access.review.recorded" in types,
        30,
        f"review by {reviewer[0]} handled",
    )
    types = running.lifecycle.types(request_id)
    assert "access.review.recorded" not in types, f"{reviewer[0]}'s review counted: {types}"
    refusal = [e for e in running.lifecycle.events(request_id) if e.type == "access.review.refused"][-1]
    assert refusal.reason  # type: ignore[attr-defined]
    assert not GRANTING & set(types)


async def test_requester_cannot_approve_their_own_request(secured: RunningLatchkey) -> None:
    # Carol is a DBA (eligible for step 1) and, through the nested group, an engineer who may request.
    request_id = await _pending_readwrite(secured, CAROL)
    await _refused(secured, request_id, CAROL)


async def test_reviewer_outside_the_step_is_refused(secured: RunningLatchkey) -> None:
    request_id = await _pending_readwrite(secured, DAVE)
    await _refused(secured, request_id, BOB)  # an engineer, not a DBA
    await _refused(secured, request_id, ALICE)  # dave's manager, but the manager step comes second


async def test_review_with_a_forged_token_is_refused(secured: RunningLatchkey) -> None:
    request_id = await _pending_readwrite(secured, DAVE)
    before = set(secured.lifecycle.types(request_id))
    await secured.approve(request_id, CAROL, token=secured.issuer.forge(*CAROL))
    await asyncio.sleep(3)
    await secured.lifecycle.poll()
    after = secured.lifecycle.types(request_id)
    assert "access.review.recorded" not in after and not GRANTING & set(after), after
    assert set(after) - before == {"access.review.refused"}, after
