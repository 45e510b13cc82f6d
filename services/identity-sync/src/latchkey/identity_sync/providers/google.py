"""Google Workspace through the Admin SDK Directory API: users, groups, group members, `pageToken`
paging. Credentials: a service account's JWT assertion (RFC 7523) impersonating an admin through
domain-wide delegation (`sub`), scopes admin.directory.user.readonly + group.readonly.

Active = neither `suspended` nor `archived`. The manager is a `relations` entry of type `manager`
holding an email, resolved to the manager's user id after the listing. Nested groups: members of
`type: GROUP` are subgroups, flattened by the engine (the same set as `includeDerivedMembership`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, TypeAdapter

from ..domain.model import IdentityGroup, IdentityUser, IdpPayload
from .base import IdentityProvider, Listing, bounded_map
from .http import ApiClient, Credentials, ServiceAccountAssertion

if TYPE_CHECKING:
    from ..settings import IdentitySyncSettings

DIRECTORY = "/admin/directory/v1"
SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly "
    "https://www.googleapis.com/auth/admin.directory.group.readonly"
)


class GoogleRelation(IdpPayload):
    value: str
    type: str | None = None


class GoogleUser(IdpPayload):
    id: str = Field(min_length=1)
    primary_email: str = Field(alias="primaryEmail", min_length=3)
    suspended: bool = False
    archived: bool = False
    relations: list[GoogleRelation] = Field(default_factory=list)

    def manager_email(self) -> str | None:
        return next((r.value for r in self.relations if r.type == "manager"), None)


class GoogleGroup(IdpPayload):
    id: str = Field(min_length=1)
    name: str | None = None
    email: str | None = None


class GoogleMember(IdpPayload):
    id: str | None = None
    type: str | None = None


class UserPage(IdpPayload):
    users: list[GoogleUser] = Field(default_factory=list)
    next_page_token: str | None = Field(default=None, alias="nextPageToken")


class GroupPage(IdpPayload):
    groups: list[GoogleGroup] = Field(default_factory=list)
    next_page_token: str | None = Field(default=None, alias="nextPageToken")


class MemberPage(IdpPayload):
    members: list[GoogleMember] = Field(default_factory=list)
    next_page_token: str | None = Field(default=None, alias="nextPageToken")


USER_PAGE = TypeAdapter(UserPage)
GROUP_PAGE = TypeAdapter(GroupPage)
MEMBER_PAGE = TypeAdapter(MemberPage)


class GoogleProvider(IdentityProvider):
    name = "google"

    def __init__(
        self,
        api_root: str,
        credentials: Credentials,
        *,
        customer: str = "my_customer",
        page_size: int = 500,
        concurrency: int = 8,
        **client_options: Any,
    ) -> None:
        super().__init__()
        self._customer = customer
        self._page_size = page_size or 500
        self._concurrency = concurrency
        self._api = ApiClient(
            api_root.rstrip("/"), credentials, self.stats, concurrency=concurrency, **client_options
        )

    @classmethod
    def from_settings(cls, settings: IdentitySyncSettings) -> GoogleProvider:
        key = settings.private_key_pem()
        if key is None or not settings.idp_client_id or not settings.idp_subject:
            raise ValueError(
                "the google provider needs LATCHKEY_IDP_CLIENT_ID (service account email), "
                "LATCHKEY_IDP_PRIVATE_KEY(_FILE) and LATCHKEY_IDP_SUBJECT (admin to impersonate)"
            )
        credentials = ServiceAccountAssertion(
            settings.idp_token_url or "https://oauth2.googleapis.com/token",
            settings.idp_client_id,
            SecretStr(key.get_secret_value()),
            settings.idp_subject,
            settings.idp_scopes or SCOPES,
            timeout=settings.idp_timeout_s,
        )
        return cls(
            settings.idp_url,
            credentials,
            customer=settings.idp_customer,
            page_size=settings.idp_page_size or 500,
            concurrency=settings.idp_concurrency,
            max_retries=settings.idp_max_retries,
            max_delay=settings.idp_max_retry_delay_s,
            timeout=settings.idp_timeout_s,
        )

    async def _pages(
        self, path: str, adapter: TypeAdapter[Any], params: dict[str, Any]
    ) -> AsyncIterator[Any]:
        token: str | None = None
        while True:
            query = {**params, **({"pageToken": token} if token else {})}
            page = (await self._api.get_json(path, adapter, query))[0]
            yield page
            token = page.next_page_token
            if not token:
                return

    async def _raw_users(self) -> list[GoogleUser]:
        users: list[GoogleUser] = []
        params = {"customer": self._customer, "maxResults": self._page_size, "projection": "basic"}
        async for page in self._pages(f"{DIRECTORY}/users", USER_PAGE, params):
            users.extend(page.users)
        return users

    async def users(self) -> AsyncIterator[IdentityUser]:
        raw = await self._raw_users()
        id_by_email = {user.primary_email.lower(): user.id for user in raw}
        for user in raw:
            manager = user.manager_email()
            yield IdentityUser(
                user.id,
                user.primary_email,
                not (user.suspended or user.archived),
                id_by_email.get(manager.lower()) if manager else None,
            )

    async def _members(self, group_id: str) -> tuple[frozenset[str], frozenset[str]]:
        users: set[str] = set()
        groups: set[str] = set()
        async for page in self._pages(
            f"{DIRECTORY}/groups/{group_id}/members", MEMBER_PAGE, {"maxResults": 200}
        ):
            for member in page.members:
                if member.id is None:
                    continue
                if member.type == "GROUP":
                    groups.add(member.id)
                elif member.type in ("USER", None):
                    users.add(member.id)
        return frozenset(users), frozenset(groups)

    async def groups(self) -> AsyncIterator[IdentityGroup]:
        listed: list[GoogleGroup] = []
        async for page in self._pages(
            f"{DIRECTORY}/groups", GROUP_PAGE, {"customer": self._customer, "maxResults": 200}
        ):
            listed.extend(page.groups)
        members = await bounded_map(self._members, [group.id for group in listed], self._concurrency)
        for group, (users, subgroups) in zip(listed, members, strict=True):
            yield IdentityGroup(group.id, group.name or group.email or group.id, users, subgroups)

    async def full_listing(self) -> Listing:
        users = [user async for user in self.users()]
        groups = [group async for group in self.groups()]
        return Listing(users, groups)

    async def aclose(self) -> None:
        await self._api.aclose()
