"""Token endpoint credentials against the fake IdPs' token endpoints: RFC 7523 client assertions
(Okta names the key by `kid`, Entra ID by the certificate's `x5t#S256` thumbprint), the Google
service-account grant, and refusals that say what failed without quoting any credential."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import SecretStr

from latchkey.identity_sync.providers.base import ProviderError
from latchkey.identity_sync.providers.graph import GraphProvider
from latchkey.identity_sync.providers.http import ClientCredentials, ServiceAccountAssertion
from latchkey.identity_sync.settings import IdentitySyncSettings
from latchkey.identity_sync.testing import FakeIdp, Population
from latchkey.identity_sync.testing.fake_idp import _generate_rsa_pem

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


async def test_a_certificate_credential_gets_a_token_and_each_request_a_fresh_assertion() -> None:
    async with FakeIdp("graph", Population(3, 1)) as fake:
        credentials = ClientCredentials(
            fake.token_url,
            fake.client_id,
            GRAPH_SCOPE,
            private_key_pem=SecretStr(fake.private_key_pem),
            certificate_pem=fake.certificate_pem,
        )
        first = await credentials.authorization()
        assert first.removeprefix("Bearer ") in fake.issued_tokens
        # the fake refuses a replayed assertion (jti), as Entra ID and Okta do: a second token needs a new one
        assert await credentials.refresh(first)
        second = await credentials.authorization()
        assert second != first and second.removeprefix("Bearer ") in fake.issued_tokens
        assert fake.token_requests == 2


def test_an_entra_assertion_is_ps256_and_names_the_certificate_by_its_sha256_thumbprint() -> None:
    """The format Microsoft's certificate-credentials reference gives, checked without joserfc."""
    private_pem, public_pem, certificate_pem = _generate_rsa_pem()
    token_url = "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
    credentials = ClientCredentials(
        token_url,
        "app-1",
        GRAPH_SCOPE,
        private_key_pem=SecretStr(private_pem),
        certificate_pem=certificate_pem,
    )
    assertion = credentials.form()["client_assertion"]
    signing_input, _, signature = assertion.rpartition(".")
    encoded_header, _, encoded_claims = signing_input.partition(".")

    def decoded(part: str) -> bytes:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    header, claims = json.loads(decoded(encoded_header)), json.loads(decoded(encoded_claims))
    der_sha256 = x509.load_pem_x509_certificate(certificate_pem.encode()).fingerprint(hashes.SHA256())
    assert header == {
        "alg": "PS256",
        "typ": "JWT",
        "x5t#S256": base64.urlsafe_b64encode(der_sha256).rstrip(b"=").decode(),
    }
    assert (claims["iss"], claims["sub"], claims["aud"]) == ("app-1", "app-1", token_url)
    public = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
    public.verify(decoded(signature), signing_input.encode(), pss, hashes.SHA256())  # raises if not


async def test_an_assertion_naming_another_certificate_is_refused() -> None:
    async with FakeIdp("graph", Population(3, 1)) as fake:
        other_certificate = _generate_rsa_pem()[2]  # not the one registered for this key
        credentials = ClientCredentials(
            fake.token_url,
            fake.client_id,
            GRAPH_SCOPE,
            private_key_pem=SecretStr(fake.private_key_pem),
            certificate_pem=other_certificate,
        )
        with pytest.raises(ProviderError, match=r"refused client credentials \(401, invalid_client\)"):
            await credentials.authorization()
        assert fake.issued_tokens == set()


async def test_a_wrong_client_secret_is_refused_and_the_error_quotes_no_secret() -> None:
    async with FakeIdp("graph", Population(3, 1)) as fake:
        wrong = "wrong-secret-" + fake.client_secret
        credentials = ClientCredentials(
            fake.token_url, fake.client_id, GRAPH_SCOPE, client_secret=SecretStr(wrong)
        )
        with pytest.raises(ProviderError) as refused:
            await credentials.authorization()
        assert "refused client credentials (401, invalid_client)" in str(refused.value)
        assert wrong not in repr(refused.value) and fake.client_secret not in repr(refused.value)


async def test_an_okta_assertion_signed_by_another_key_is_refused() -> None:
    async with FakeIdp("okta", Population(3, 1, nested=False)) as fake:
        credentials = ClientCredentials(
            fake.token_url,
            fake.client_id,
            "okta.users.read okta.groups.read",
            private_key_pem=SecretStr(_generate_rsa_pem()[0]),
            key_id="not-registered",
        )
        with pytest.raises(ProviderError, match=r"\(401, invalid_client\)"):
            await credentials.authorization()


async def test_a_google_assertion_for_another_admin_is_refused() -> None:
    async with FakeIdp("google", Population(3, 1)) as fake:
        scopes = "https://www.googleapis.com/auth/admin.directory.user.readonly"
        ok = ServiceAccountAssertion(
            fake.token_url, fake.service_account, SecretStr(fake.private_key_pem), fake.subject, scopes
        )
        assert (await ok.authorization()).removeprefix("Bearer ") in fake.issued_tokens
        stranger = ServiceAccountAssertion(
            fake.token_url, fake.service_account, SecretStr(fake.private_key_pem), "someone@else", scopes
        )
        with pytest.raises(ProviderError, match=r"refused the service-account assertion \(401"):
            await stranger.authorization()


async def test_a_private_key_that_is_not_pem_is_reported_without_quoting_it() -> None:
    garbage = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n"
    credentials = ClientCredentials(
        "http://127.0.0.1:9/token", "client", GRAPH_SCOPE, private_key_pem=SecretStr(garbage)
    )
    with pytest.raises(ProviderError, match="not an RSA private key in PEM") as refused:
        await credentials.authorization()
    assert "bm90IGEga2V5" not in repr(refused.value)


def test_graph_with_a_private_key_but_no_certificate_says_what_is_missing() -> None:
    settings = IdentitySyncSettings(
        idp_provider="graph",
        idp_url="https://graph.microsoft.com/v1.0",
        idp_client_id="client",
        idp_tenant_id="tenant",
        idp_private_key=SecretStr(_generate_rsa_pem()[0]),
    )
    with pytest.raises(ValueError, match="LATCHKEY_IDP_CERTIFICATE_FILE"):
        GraphProvider.from_settings(settings)


def test_a_certificate_that_is_not_pem_is_refused_at_configuration() -> None:
    with pytest.raises(ValueError, match=r"not a PEM X\.509 certificate"):
        ClientCredentials(
            "http://127.0.0.1:9/token",
            "client",
            GRAPH_SCOPE,
            private_key_pem=SecretStr(_generate_rsa_pem()[0]),
            certificate_pem="not a certificate",
        )


def test_the_command_line_reports_a_missing_certificate_as_a_configuration_error(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(_generate_rsa_pem()[0])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LATCHKEY_")},
        "LATCHKEY_IDP_PROVIDER": "graph",
        "LATCHKEY_IDP_URL": "https://graph.microsoft.com/v1.0",
        "LATCHKEY_IDP_CLIENT_ID": "client",
        "LATCHKEY_IDP_TENANT_ID": "tenant",
        "LATCHKEY_IDP_PRIVATE_KEY_FILE": str(key),
    }
    for command in (["run-once", "--dry-run"], ["run"]):
        done = subprocess.run(
            [sys.executable, "-m", "latchkey.identity_sync", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "configuration error" in done.stderr and "LATCHKEY_IDP_CERTIFICATE_FILE" in done.stderr
        assert "Traceback" not in done.stderr and "PRIVATE KEY" not in done.stderr
