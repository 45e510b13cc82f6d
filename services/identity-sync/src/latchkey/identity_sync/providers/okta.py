"""Okta: /api/v1/users, /api/v1/groups, /api/v1/groups/{id}/users, `Link: rel="next"` paging.

Okta groups do not nest, so a group's members are exactly /groups/{id}/users. The plain user listing
leaves out DEPROVISIONED (deactivated) users, so a full sync adds `search=status eq "DEPROVISIONED"`:
they are kept as inactive users, not dropped.

Incremental runs use Okta's own change queries from a high-water mark kept with the snapshot (the
server's `Date` when the previous run started, less a safety overlap because search and filter results
come from an eventually consistent index):

- users: `search=lastUpdated gt "<since>"`, which unlike the default listing also returns
  DEPROVISIONED users, so a deactivation is seen as one;
- groups: `filter=lastUpdated gt "<since>" or lastMembershipUpdated gt "<since>"`, then the members of
  just those groups.

Okta reports no deletions this way: a deleted user (deactivated first, as Okta requires) or a deleted
group is caught by the periodic full sync.

Credentials: an API token (`SSWS`) or an OAuth service app (client credentials, private-key JWT).
"""

from __future__ import annotations

import email.utils
import sys
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field, TypeAdapter

from ..domain.model import GroupPatch, IdentityGroup, IdentityUser, IdpPayload, UserPatch
from .base import Delta, DeltaExpired, IdentityProvider, Listing, bounded_map, concurrently
from .http import ApiClient, ClientCredentials, Credentials, Response, StaticToken

if TYPE_CHECKING:
    from ..settings import IdentitySyncSettings

# Statuses in which the account is enabled (a locked-out or password-expired user is still a member).
ACTIVE_STATUSES = frozenset({"ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT"})
DEPROVISIONED = "DEPROVISIONED"  # Okta's "deactivated"


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


def okta_timestamp(moment: datetime) -> str:
    """Okta's filter date format: `yyyy-MM-dd'T'HH:mm:ss.SSSZ` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def server_time(response: Response) -> datetime:
    """When the server answered (`Date`, whole seconds, so never later than the truth); the local
    clock if the header is missing. High-water marks use the IdP's clock, not ours."""
    header = response.headers.get("Date")
    if header:
        try:
            return email.utils.parsedate_to_datetime(header).astimezone(UTC)
        except (TypeError, ValueError):
            pass
    return datetime.now(UTC)


class OktaProvider(IdentityProvider):
    name = "okta"
    supports_delta = True

    def __init__(
        self,
        org_url: str,
        credentials: Credentials,
        *,
        page_size: int = 200,
        concurrency: int = 8,
        overlap_s: float = 120.0,
        **client_options: Any,
    ) -> None:
        super().__init__()
        self._page_size = page_size or 200
        self._concurrency = concurrency
        self._overlap = timedelta(seconds=overlap_s)
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
                timeout=settings.idp_timeout_s,
            )
        else:
            credentials = StaticToken("SSWS", settings.idp_token, settings.idp_token_file)
        return cls(
            url,
            credentials,
            page_size=settings.idp_page_size or 200,
            concurrency=settings.idp_concurrency,
            overlap_s=settings.idp_incremental_overlap_s,
            max_retries=settings.idp_max_retries,
            max_delay=settings.idp_max_retry_delay_s,
            timeout=settings.idp_timeout_s,
        )

    async def _pages(
        self, path: str, adapter: TypeAdapter[list[Any]], query: Mapping[str, str] | None = None
    ) -> AsyncIterator[tuple[list[Any], Response]]:
        url: str | None = path
        params: dict[str, Any] | None = {"limit": self._page_size, **(query or {})}
        while url is not None:
            page, response = await self._api.get_json(url, adapter, params)
            yield page, response
            # the next link carries the query (search/filter) and the `after` cursor
            url, params = response.links.get("next"), None

    async def _users(self, query: Mapping[str, str] | None = None) -> AsyncIterator[OktaUser]:
        async for page, _ in self._pages("/api/v1/users", USERS_PAGE, query):
            for user in page:
                yield user

    async def users(self) -> AsyncIterator[IdentityUser]:
        # The plain listing leaves out DEPROVISIONED (deactivated) users and search finds them: a full
        # sync keeps them as inactive, exactly as an incremental run that saw the deactivation does.
        for query in (None, {"search": f'status eq "{DEPROVISIONED}"'}):
            async for user in self._users(query):
                email = user.profile.email or user.profile.login
                if email:
                    yield IdentityUser(
                        user.id, email, user.status in ACTIVE_STATUSES, user.profile.manager_id
                    )

    async def _members(self, group_id: str) -> frozenset[str]:
        members: set[str] = set()
        async for page, _ in self._pages(f"/api/v1/groups/{group_id}/users", MEMBERS_PAGE):
            members.update(sys.intern(member.id) for member in page)
        return frozenset(members)

    async def _groups_with_members(
        self, query: Mapping[str, str] | None = None
    ) -> list[tuple[OktaGroup, frozenset[str]]]:
        listed: list[OktaGroup] = []
        async for page, _ in self._pages("/api/v1/groups", GROUPS_PAGE, query):
            listed.extend(page)
        members = await bounded_map(self._members, [group.id for group in listed], self._concurrency)
        return list(zip(listed, members, strict=True))

    async def groups(self) -> AsyncIterator[IdentityGroup]:
        for group, members in await self._groups_with_members():
            yield IdentityGroup(group.id, group.profile.name, members)

    async def _now(self) -> datetime:
        """The IdP's clock, read before listing: every change after it is in this run or the next."""
        page, response = await self._api.get_json("/api/v1/groups", GROUPS_PAGE, {"limit": 1})
        del page
        return server_time(response)

    async def full_listing(self) -> Listing:
        started = await self._now()
        # users and group members are listed at the same time: the member fetches (one request per
        # group) are latency bound, the user pages are parse bound
        users, groups = await concurrently(self._collect(self.users()), self._groups_with_members())
        return Listing(
            users,
            [IdentityGroup(group.id, group.profile.name, members) for group, members in groups],
            {"since": okta_timestamp(started)},
        )

    @staticmethod
    async def _collect(users: AsyncIterator[IdentityUser]) -> list[IdentityUser]:
        return [user async for user in users]

    async def delta(self, cursor: dict[str, Any]) -> Delta:
        """Users and groups changed since the cursor's high-water mark (less the overlap); a changed
        group comes with all its members. Deletions are not reported (see the module docstring)."""
        try:
            since = datetime.fromisoformat(str(cursor["since"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            raise DeltaExpired("no Okta high-water mark stored") from None
        started = await self._now()
        stamp = okta_timestamp(since - self._overlap)
        user_query = {"search": f'lastUpdated gt "{stamp}"'}
        group_query = {"filter": f'lastUpdated gt "{stamp}" or lastMembershipUpdated gt "{stamp}"'}
        users, groups = await concurrently(
            self._collect_patches(user_query), self._groups_with_members(group_query)
        )
        return Delta(
            users,
            [GroupPatch(group.id, name=group.profile.name, members=members) for group, members in groups],
            {"since": okta_timestamp(started)},
        )

    async def _collect_patches(self, query: Mapping[str, str]) -> list[UserPatch]:
        patches: dict[str, UserPatch] = {}
        async for user in self._users(query):
            patches[user.id] = UserPatch(
                sys.intern(user.id),
                email=user.profile.email or user.profile.login,
                active=user.status in ACTIVE_STATUSES,  # DEPROVISIONED (deactivated) included
                manager_id=user.profile.manager_id,
                manager_reported=True,
            )
        return list(patches.values())

    async def aclose(self) -> None:
        await self._api.aclose()
