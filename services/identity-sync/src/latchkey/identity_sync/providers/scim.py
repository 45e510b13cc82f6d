"""SCIM 2.0 (RFC 7643/7644): /Users and /Groups ListResponses, `startIndex`/`count` paging, an optional
`filter` on /Users, bearer token (re-read from its file on 401, so a rotated secret is picked up).

Email: the `primary` entry of `emails`, else the `work` one, else `userName`. Manager: the enterprise
extension's `manager.value`. Nested groups: members with `type: "Group"` are subgroups, flattened by
the engine (RFC 7643 leaves nesting to the service provider; we take it transitively).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, TypeAdapter

from ..domain.model import IdentityGroup, IdentityUser, IdpPayload
from .base import IdentityProvider, ProviderError
from .http import ApiClient, Credentials, StaticToken

if TYPE_CHECKING:
    from ..settings import IdentitySyncSettings

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


class ScimEmail(IdpPayload):
    value: str
    type: str | None = None
    primary: bool = False


class ScimManager(IdpPayload):
    value: str | None = None


class ScimEnterprise(IdpPayload):
    manager: ScimManager | None = None


class ScimUser(IdpPayload):
    id: str = Field(min_length=1)
    user_name: str | None = Field(default=None, alias="userName")
    emails: list[ScimEmail] = Field(default_factory=list)
    active: bool = True
    enterprise: ScimEnterprise | None = Field(default=None, alias=ENTERPRISE)

    def email(self) -> str | None:
        for chosen in (
            [e for e in self.emails if e.primary],
            [e for e in self.emails if e.type == "work"],
        ):
            if chosen:
                return chosen[0].value
        return self.user_name if self.user_name and "@" in self.user_name else None


class ScimMember(IdpPayload):
    value: str = Field(min_length=1)
    type: str | None = None


class ScimGroup(IdpPayload):
    id: str = Field(min_length=1)
    display_name: str = Field(alias="displayName", min_length=1)
    members: list[ScimMember] = Field(default_factory=list)


class UserList(IdpPayload):
    total_results: int = Field(alias="totalResults", ge=0)
    start_index: int = Field(default=1, alias="startIndex")
    resources: list[ScimUser] = Field(default_factory=list, alias="Resources")


class GroupList(IdpPayload):
    total_results: int = Field(alias="totalResults", ge=0)
    start_index: int = Field(default=1, alias="startIndex")
    resources: list[ScimGroup] = Field(default_factory=list, alias="Resources")


USER_LIST = TypeAdapter(UserList)
GROUP_LIST = TypeAdapter(GroupList)


class ScimProvider(IdentityProvider):
    name = "scim"

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        page_size: int = 100,
        user_filter: str | None = None,
        **client_options: Any,
    ) -> None:
        super().__init__()
        self._count = page_size or 100
        self._filter = user_filter
        self._api = ApiClient(base_url.rstrip("/"), credentials, self.stats, **client_options)

    @classmethod
    def from_settings(cls, settings: IdentitySyncSettings) -> ScimProvider:
        return cls(
            settings.idp_url,
            StaticToken("Bearer", settings.idp_token, settings.idp_token_file),
            page_size=settings.idp_page_size or 100,
            user_filter=settings.idp_filter,
            max_retries=settings.idp_max_retries,
            max_delay=settings.idp_max_retry_delay_s,
            timeout=settings.idp_timeout_s,
        )

    async def _pages(self, path: str, adapter: TypeAdapter[Any], extra: dict[str, Any]) -> AsyncIterator[Any]:
        start = 1
        while True:
            page = (
                await self._api.get_json(path, adapter, {"startIndex": start, "count": self._count, **extra})
            )[0]
            if not page.resources and start <= page.total_results:
                # An empty page before the end the server announced: a listing that stops short would
                # read as "everyone after this was deleted" and deactivate them. Fail the run instead
                # (the next one lists again), and never loop on a server that miscounts.
                raise ProviderError(
                    f"scim {path}: an empty page at startIndex {start} of {page.total_results} results; "
                    "the listing is incomplete"
                )
            yield page
            start += len(page.resources)
            if not page.resources or start > page.total_results:
                return

    async def users(self) -> AsyncIterator[IdentityUser]:
        extra = {"filter": self._filter} if self._filter else {}
        async for page in self._pages("/Users", USER_LIST, extra):
            for user in page.resources:
                email = user.email()
                if email:
                    manager = (
                        user.enterprise.manager.value if user.enterprise and user.enterprise.manager else None
                    )
                    yield IdentityUser(user.id, email, user.active, manager)

    async def groups(self) -> AsyncIterator[IdentityGroup]:
        async for page in self._pages("/Groups", GROUP_LIST, {}):
            for group in page.resources:
                users = frozenset(m.value for m in group.members if (m.type or "User") == "User")
                subgroups = frozenset(m.value for m in group.members if m.type == "Group")
                yield IdentityGroup(group.id, group.display_name, users, subgroups)

    async def aclose(self) -> None:
        await self._api.aclose()
