"""Build each provider against a running fake, with each credential flavour the real IdP offers."""

from __future__ import annotations

from pydantic import SecretStr

from latchkey.identity_sync.providers.base import IdentityProvider
from latchkey.identity_sync.providers.google import SCOPES, GoogleProvider
from latchkey.identity_sync.providers.graph import GraphProvider
from latchkey.identity_sync.providers.http import (
    ClientCredentials,
    Credentials,
    ServiceAccountAssertion,
    StaticToken,
)
from latchkey.identity_sync.providers.okta import OktaProvider
from latchkey.identity_sync.providers.scim import ScimProvider
from latchkey.identity_sync.testing import FakeIdp

PROVIDERS = ["okta:ssws", "okta:private_key_jwt", "graph:delta", "graph:list", "google:sa", "scim:bearer"]
"""The variants every provider test runs; `graph:certificate` (delta queries, certificate credentials)
is also built here, for the credential tests."""

FAST = {"max_delay": 2.0, "max_retries": 4}


def make_provider(variant: str, fake: FakeIdp, **options: object) -> IdentityProvider:
    kind, _, flavour = variant.partition(":")
    opts = {**FAST, **options}
    credentials: Credentials
    if kind == "okta":
        if flavour == "private_key_jwt":
            credentials = ClientCredentials(
                fake.token_url,
                fake.client_id,
                "okta.users.read okta.groups.read",
                private_key_pem=SecretStr(fake.private_key_pem),
            )
        else:
            credentials = StaticToken("SSWS", SecretStr(fake.api_token))
        return OktaProvider(fake.api_url, credentials, page_size=25, **opts)  # type: ignore[arg-type]
    if kind == "graph":
        # graph:certificate: a private-key JWT naming the app's certificate; else the client secret
        credentials = ClientCredentials(
            fake.token_url,
            fake.client_id,
            "https://graph.microsoft.com/.default",
            client_secret=None if flavour == "certificate" else SecretStr(fake.client_secret),
            private_key_pem=SecretStr(fake.private_key_pem) if flavour == "certificate" else None,
            certificate_pem=fake.certificate_pem if flavour == "certificate" else None,
        )
        return GraphProvider(
            fake.api_url,
            credentials,
            use_delta=flavour != "list",
            page_size=25,
            **opts,  # type: ignore[arg-type]
        )
    if kind == "google":
        assertion = ServiceAccountAssertion(
            fake.token_url, fake.service_account, SecretStr(fake.private_key_pem), fake.subject, SCOPES
        )
        return GoogleProvider(fake.api_url, assertion, page_size=25, **opts)  # type: ignore[arg-type]
    if kind == "scim":
        token = options.pop("token", None) or StaticToken("Bearer", SecretStr(fake.api_token))
        return ScimProvider(fake.api_url, token, page_size=25, **{**FAST, **options})  # type: ignore[arg-type]
    raise ValueError(variant)
