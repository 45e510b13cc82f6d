"""ID token verification against the real (local) test issuer over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from latchkey.flow_engine.tokens import InvalidToken, TokenVerifier
from latchkey.runtime.testing.oidc import SigningKey, TestIssuer


@pytest.fixture(scope="module")
def idp() -> Iterator[TestIssuer]:
    with TestIssuer() as issuer:
        yield issuer


async def test_valid_token_names_the_subject(idp: TestIssuer) -> None:
    verifier = TokenVerifier(idp.issuer, "latchkey")
    identity = await verifier.verify(idp.mint("u-alice", "alice@example.com"))
    assert (identity.subject, identity.email) == ("u-alice", "alice@example.com")
    await verifier.verify(idp.mint("u-bob"))
    assert verifier.fetches == 1  # cached


@pytest.mark.parametrize(
    ("claim", "verified"),
    [
        (True, True),
        ("true", True),
        ("True", True),
        (False, False),
        ("false", False),
        (None, False),
        (1, False),
    ],
)
async def test_email_counts_as_verified_only_when_the_idp_says_true(
    idp: TestIssuer, claim: object, verified: bool
) -> None:
    verifier = TokenVerifier(idp.issuer, "latchkey")
    extra = {} if claim is None else {"email_verified": claim}
    identity = await verifier.verify(idp.mint("u-alice", "alice@example.com", extra=extra))
    assert (identity.email, identity.email_verified) == ("alice@example.com", verified)


async def test_entra_object_id_is_read_from_oid(idp: TestIssuer) -> None:
    verifier = TokenVerifier(idp.issuer, "latchkey")
    oid = "6f1c2d3e-0000-4000-8000-00000000a11c"
    identity = await verifier.verify(idp.mint("pairwise-sub", extra={"oid": oid}))
    assert (identity.subject, identity.object_id) == ("pairwise-sub", oid)
    assert (await verifier.verify(idp.mint("u-bob"))).object_id is None


@pytest.mark.parametrize(
    ("make", "code", "words"),
    [
        (lambda idp: idp.mint("u", expires_in=-600), "expired_token", "expired"),
        (lambda idp: idp.mint("u", audience="someone-else"), "invalid_token", "aud"),
        (lambda idp: idp.mint("u", issuer="https://evil.example"), "invalid_token", "iss"),
        (lambda idp: idp.forge("u"), "invalid_token", "signature"),
        (lambda idp: idp.forge("u", same_kid=False), "invalid_token", "does not publish"),
        (lambda idp: "not-a-jwt", "invalid_token", "not a JWT"),
    ],
)
async def test_bad_tokens_are_refused_with_a_reason(idp: TestIssuer, make, code: str, words: str) -> None:
    verifier = TokenVerifier(idp.issuer, "latchkey", refresh_interval_seconds=0)
    with pytest.raises(InvalidToken) as refused:
        await verifier.verify(make(idp))
    assert refused.value.code == code and words in refused.value.reason


async def test_unknown_kid_refetches_the_jwks(idp: TestIssuer) -> None:
    verifier = TokenVerifier(idp.issuer, "latchkey", jwks_url=idp.jwks_uri, refresh_interval_seconds=0)
    await verifier.verify(idp.mint("u"))
    idp.rotate()
    assert (await verifier.verify(idp.mint("u-new"))).subject == "u-new"
    assert verifier.fetches == 2


async def test_unsigned_token_is_refused(idp: TestIssuer) -> None:
    import base64
    import json

    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    token = f"{part({'alg': 'none', 'kid': idp.keys[0].kid})}.{part({'sub': 'u', 'iss': idp.issuer})}."
    with pytest.raises(InvalidToken):
        await TokenVerifier(idp.issuer, "latchkey").verify(token)
    assert SigningKey.generate().kid
