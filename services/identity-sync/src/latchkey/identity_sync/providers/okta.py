"""Okta: /api/v1/users, /api/v1/groups, /api/v1/groups/{id}/users, `Link: rel="next"` paging.

Okta groups do not nest, so a group's members are exactly /groups/{id}/users. The default user listing
leaves out DEPROVISIONED users: to Latchkey they are removed, which publishes `user.deactivated`.
Credentials: an API token (`SSWS`) or an OAuth service app (client credentials, private-key JWT).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, TypeAdapter

from ..domain.model import IdentityGroup, IdentityUser, IdpPayload
from .base import IdentityProvider, bounded_map
from .http import ApiClient, ClientCredentials, Credentials, StaticToken

if TYPE_CHECKING:
    from ..settings import IdentitySyncSettings

# Statuses in which the account is enabled (a locked-out or password-expired user is still a member).
ACTIVE_STATUSES = frozenset({"ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"})


class OktaProfile(IdpPayload):
    email: str | None = None
    login: str | None = None
    manager_id: str | None = Field(default=None, alias="managerId")


class OktaUser(IdpPayload):
    id: str = Field(min_length=1)
    status: str
    profile: OktaProfile


class OktaGroupProfile(IdpPayload):
    name: str = Field(min_length=1)


class OktaGroup(IdpPayload):
    id: str = Field(min_length=1)
    profile: OktaGroupProfile


class OktaMember(IdpPayload):
    id: str = Field(min_length=1)


USERS_PAGE = TypeAdapter(list[OktaUser])
GROUPS_PAGE = TypeAdapter(list[OktaGroup])
MEMBERS_PAGE = TypeAdapter(list[OktaMember])


class OktaProvider(IdentityProvider):
    name = "okta"

    def __init__(
        self,
        org_url: str,
        credentials: Credentials,
        *,
        page_size: int = 200,
        concurrency: int = 8,
        **client_options: Any,
    ) -> None:
        super().__init__()
        self._page_size = page_size or 200
        self._concurrency = concurrency
        self._api = ApiClient(
            org_url.rstrip("/"), credentials, self.stats, concurrency=concurrency, **client_options
        )

    @classmethod
    def from_settings(cls, settings: IdentitySyncSettings) -> OktaProvider:
        url = settings.idp_url.rstrip("/")
        credentials: Credentials
        key = settings.private_key_pem()
        if key is not None and settings.idp_client_id:
            credentials = ClientCredentials(
                settings.idp_token_url or f"{url}/oauth2/v1/token",
                settings.idp_client_id,
                settings.idp_scopes or "okta.users.read okta.groups.read",
                private_key_pem=key,
                key_id=settings.idp_key_id,
            )
        else:
            credentials = StaticToken("SSWS", settings.idp_token, settings.idp_token_file)
        return cls(
            url,
            credentials,
            page_size=settings.idp_page_size or 200,
            concurrency=settings.idp_concurrency,
            max_retries=settings.idp_max_retries,
            max_delay=settings.idp_max_retry_delay_s,
            timeout=settings.idp_timeout_s,
        )

    async def _pages(self, path: str, adapter: TypeAdapter[list[Any]]) -> AsyncIterator[list[Any]]:
        url: str | None = path
        params: dict[str, Any] | None = {"limit": self._page_size}
        while url is not None:
            page, response = await self._api.get_json(url, adapter, params)
            yield page
            following = response.links.get("next")
            url, params = (following["url"], None) if following else (None, None)

    async def users(self) -> AsyncIterator[IdentityUser]:
        async for page in self._pages("/api/v1/users", USERS_PAGE):
            for user in page:
                email = user.profile.email or user.profile.login
                if email:
                    yield IdentityUser(
                        user.id, email, user.status in ACTIVE_STATUSES, user.profile.manager_id
                    )

    async def _members(self, group_id: str) -> frozenset[str]:
        members: set[str] = set()
        async for page in self._pages(f"/api/v1/groups/{group_id}/users", MEMBERS_PAGE):
            members.update(sys.intern(member.id) for member in page)
        return frozenset(members)

    async def groups(self) -> AsyncIterator[IdentityGroup]:
        listed: list[OktaGroup] = []
        async for page in self._pages("/api/v1/groups", GROUPS_PAGE):
            listed.extend(page)
        members = await bounded_map(self._members, [group.id for group in listed], self._concurrency)
        for group, group_members in zip(listed, members, strict=True):
            yield IdentityGroup(group.id, group.profile.name, group_members)

    async def aclose(self) -> None:
        await self._api.aclose()
