"""Identity providers behind one interface, chosen by `LATCHKEY_IDP_PROVIDER`."""

from __future__ import annotations

from ..settings import IdentitySyncSettings
from .base import Delta, IdentityProvider, Listing, ProviderError

__all__ = ["Delta", "IdentityProvider", "Listing", "ProviderError", "build_provider"]


def build_provider(settings: IdentitySyncSettings) -> IdentityProvider:
    """The provider named in settings, with its connection and credentials."""
    name = settings.idp_provider
    if name == "file":
        from .file import FileProvider

        return FileProvider(settings.idp_file)
    if not settings.idp_url:
        raise ValueError(f"LATCHKEY_IDP_URL is required for the {name} provider")
    if name == "scim":
        from .scim import ScimProvider

        return ScimProvider.from_settings(settings)
    if name == "okta":
        from .okta import OktaProvider

        return OktaProvider.from_settings(settings)
    if name == "graph":
        from .graph import GraphProvider

        return GraphProvider.from_settings(settings)
    if name == "google":
        from .google import GoogleProvider

        return GoogleProvider.from_settings(settings)
    raise ValueError(f"unknown identity provider {name!r}")
