"""Microsoft Entra ID through Microsoft Graph.

Delta queries are the default: a full sync is a delta round from scratch (`/users/delta`,
`/groups/delta` with `members@delta`), and its final `@odata.deltaLink`s are stored with the snapshot;
an incremental run follows those links and gets only what changed (`@removed` for deletions and
removed members). A 410 means the delta state expired: the engine falls back to a full sync.
Without delta (`idp_graph_delta=false`) it lists /users (with `$expand=manager`), /groups and
/groups/{id}/members. Nested groups: members of type `#microsoft.graph.group` are kept as subgroups
and flattened by the engine (the same set as `transitiveMembers` restricted to users).
Credentials: client credentials: a client secret, or a private-key JWT signed with the key of a
certificate registered on the app (PS256, the certificate named by its SHA-256 thumbprint, `x5t#S256`).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import Field, TypeAdapter

from ..domain.model import GroupPatch, IdentityGroup, IdentityUser, IdpPayload, UserPatch
from ..domain.plan import apply_user_patch
from .base import (
    Delta,
    DeltaExpired,
    IdentityProvider,
    Listing,
    ProviderError,
    bounded_map,
    concurrently,
)
from .http import ApiClient, ClientCredentials, Credentials

if TYPE_CHECKING:
    from ..settings import IdentitySyncSettings

USER_TYPE = "#microsoft.graph.user"
GROUP_TYPE = "#microsoft.graph.group"
USER_SELECT = "id,mail,userPrincipalName,accountEnabled"


class GraphRef(IdpPayload):
    id: str = Field(min_length=1)
    odata_type: str | None = Field(default=None, alias="@odata.type")
    removed: dict[str, Any] | None = Field(default=None, alias="@removed")


class GraphUser(IdpPayload):
    id: str = Field(min_length=1)
    mail: str | None = None
    user_principal_name: str | None = Field(default=None, alias="userPrincipalName")
    account_enabled: bool | None = Field(default=None, alias="accountEnabled")
    manager: GraphRef | None = None
    manager_delta: list[GraphRef] | None = Field(default=None, alias="manager@delta")
    removed: dict[str, Any] | None = Field(default=None, alias="@removed")


class GraphGroup(IdpPayload):
    id: str = Field(min_length=1)
    display_name: str | None = Field(default=None, alias="displayName")
    members_delta: list[GraphRef] | None = Field(default=None, alias="members@delta")
    removed: dict[str, Any] | None = Field(default=None, alias="@removed")


class UserPage(IdpPayload):
    value: list[GraphUser]
    next_link: str | None = Field(default=None, alias="@odata.nextLink")
    delta_link: str | None = Field(default=None, alias="@odata.deltaLink")


class GroupPage(IdpPayload):
    value: list[GraphGroup]
    next_link: str | None = Field(default=None, alias="@odata.nextLink")
    delta_link: str | None = Field(default=None, alias="@odata.deltaLink")


class RefPage(IdpPayload):
    value: list[GraphRef]
    next_link: str | None = Field(default=None, alias="@odata.nextLink")


USER_PAGE = TypeAdapter(UserPage)
GROUP_PAGE = TypeAdapter(GroupPage)
REF_PAGE = TypeAdapter(RefPage)


def user_patch(user: GraphUser) -> UserPatch:
    patch = UserPatch(sys.intern(user.id), removed=user.removed is not None)
    email = user.mail or user.user_principal_name
    patch.email = email
    patch.active = user.account_enabled
    if user.manager_delta is not None:
        current = [ref for ref in user.manager_delta if ref.removed is None]
        patch.manager_id, patch.manager_reported = (current[0].id if current else None), True
    elif user.manager is not None:
        patch.manager_id, patch.manager_reported = user.manager.id, True
    return patch


def merge_group(patches: dict[str, GroupPatch], group: GraphGroup) -> None:
    """Graph may split one group's member changes over several objects: merge them per id."""
    patch = patches.get(group.id)
    if patch is None:
        patch = patches[group.id] = GroupPatch(group.id)
    if group.removed is not None:
        patch.removed = True
        return
    if group.display_name is not None:
        patch.name = group.display_name
    for ref in group.members_delta or ():
        is_group = ref.odata_type == GROUP_TYPE
        if ref.odata_type not in (USER_TYPE, GROUP_TYPE, None):
            continue  # devices, service principals, contacts: not people
        added, removed = (
            (patch.added_subgroups, patch.removed_subgroups)
            if is_group
            else (patch.added_members, patch.removed_members)
        )
        ref_id = sys.intern(ref.id)  # a user is in many groups: one string, not one per membership
        if ref.removed is None:
            added.add(ref_id)
            removed.discard(ref_id)
        else:
            removed.add(ref_id)
            added.discard(ref_id)


class GraphProvider(IdentityProvider):
    name = "graph"

    def __init__(
        self,
        graph_url: str,
        credentials: Credentials,
        *,
        use_delta: bool = True,
        page_size: int = 999,
        concurrency: int = 8,
        **client_options: Any,
    ) -> None:
        super().__init__()
        self.supports_delta = use_delta
        self._root = graph_url.rstrip("/")
        self._page_headers = {"Prefer": f"odata.maxpagesize={page_size or 999}"}
        self._concurrency = concurrency
        self._api = ApiClient(self._root, credentials, self.stats, concurrency=concurrency, **client_options)

    @classmethod
    def from_settings(cls, settings: IdentitySyncSettings) -> GraphProvider:
        if not settings.idp_client_id:
            raise ValueError("the graph provider needs LATCHKEY_IDP_CLIENT_ID and a secret or private key")
        private_key, certificate = settings.private_key_pem(), settings.certificate_pem()
        if private_key is not None and certificate is None:
            raise ValueError(
                "Entra ID finds the key of a client assertion by its certificate's thumbprint: set"
                " LATCHKEY_IDP_CERTIFICATE_FILE (or LATCHKEY_IDP_CERTIFICATE) to the certificate"
                " registered on the app, or use LATCHKEY_IDP_CLIENT_SECRET"
            )
        token_url = settings.idp_token_url or (
            f"https://login.microsoftonline.com/{settings.idp_tenant_id}/oauth2/v2.0/token"
        )
        credentials = ClientCredentials(
            token_url,
            settings.idp_client_id,
            settings.idp_scopes or "https://graph.microsoft.com/.default",
            client_secret=settings.idp_client_secret,
            private_key_pem=private_key,
            certificate_pem=certificate,
            timeout=settings.idp_timeout_s,
        )
        return cls(
            settings.idp_url,
            credentials,
            use_delta=settings.idp_graph_delta,
            page_size=settings.idp_page_size or 999,
            concurrency=settings.idp_concurrency,
            max_retries=settings.idp_max_retries,
            max_delay=settings.idp_max_retry_delay_s,
            timeout=settings.idp_timeout_s,
        )

    async def _get(self, url: str, adapter: TypeAdapter[Any], params: dict[str, Any] | None = None) -> Any:
        try:
            page, _ = await self._api.get_json(url, adapter, params, self._page_headers)
        except ProviderError as exc:
            if exc.status == 410:
                raise DeltaExpired("Graph delta token expired (410)", 410) from None
            raise
        return page

    async def _user_round(self, url: str, params: dict[str, Any] | None) -> tuple[dict[str, UserPatch], str]:
        patches: dict[str, UserPatch] = {}
        next_url: str | None = url
        while next_url is not None:
            page: UserPage = await self._get(next_url, USER_PAGE, params)
            params = None
            for user in page.value:
                patch = user_patch(user)
                before = patches.get(user.id)
                patches[user.id] = patch if before is None else before.then(patch)
            if page.next_link is None and page.delta_link is None:
                raise ProviderError("Graph users/delta round ended without a deltaLink")
            next_url = page.next_link
            delta_link = page.delta_link
        return patches, str(delta_link)

    async def _group_round(
        self, url: str, params: dict[str, Any] | None
    ) -> tuple[dict[str, GroupPatch], str]:
        patches: dict[str, GroupPatch] = {}
        next_url: str | None = url
        while next_url is not None:
            page: GroupPage = await self._get(next_url, GROUP_PAGE, params)
            params = None
            for group in page.value:
                merge_group(patches, group)
            if page.next_link is None and page.delta_link is None:
                raise ProviderError("Graph groups/delta round ended without a deltaLink")
            next_url = page.next_link
            delta_link = page.delta_link
        return patches, str(delta_link)

    async def full_listing(self) -> Listing:
        if not self.supports_delta:
            return await super().full_listing()
        (user_patches, users_link), (group_patches, groups_link) = await concurrently(
            self._user_round("/users/delta", {"$select": f"{USER_SELECT},manager"}),
            self._group_round("/groups/delta", {"$select": "displayName,members"}),
        )
        users = [user for patch in user_patches.values() if (user := apply_user_patch(None, patch))]
        groups = [
            IdentityGroup(p.id, p.name or p.id, frozenset(p.added_members), frozenset(p.added_subgroups))
            for p in group_patches.values()
            if not p.removed
        ]
        return Listing(users, groups, {"users": users_link, "groups": groups_link})

    async def delta(self, cursor: dict[str, Any]) -> Delta:
        if "users" not in cursor or "groups" not in cursor:
            raise DeltaExpired("no stored Graph delta links")
        (user_patches, users_link), (group_patches, groups_link) = await concurrently(
            self._user_round(cursor["users"], None), self._group_round(cursor["groups"], None)
        )
        return Delta(
            list(user_patches.values()),
            list(group_patches.values()),
            {"users": users_link, "groups": groups_link},
        )

    async def users(self) -> AsyncIterator[IdentityUser]:
        url: str | None = "/users"
        params: dict[str, Any] | None = {"$select": USER_SELECT, "$expand": "manager($select=id)"}
        while url is not None:
            page: UserPage = await self._get(url, USER_PAGE, params)
            params = None
            for user in page.value:
                if (identity := apply_user_patch(None, user_patch(user))) is not None:
                    yield identity
            url = page.next_link

    async def _members(self, group_id: str) -> tuple[frozenset[str], frozenset[str]]:
        users: set[str] = set()
        groups: set[str] = set()
        url: str | None = f"/groups/{group_id}/members"
        params: dict[str, Any] | None = {"$select": "id"}
        while url is not None:
            page: RefPage = await self._get(url, REF_PAGE, params)
            params = None
            for ref in page.value:
                if ref.odata_type == USER_TYPE:
                    users.add(ref.id)
                elif ref.odata_type == GROUP_TYPE:
                    groups.add(ref.id)
            url = page.next_link
        return frozenset(users), frozenset(groups)

    async def groups(self) -> AsyncIterator[IdentityGroup]:
        listed: list[GraphGroup] = []
        url: str | None = "/groups"
        params: dict[str, Any] | None = {"$select": "id,displayName"}
        while url is not None:
            page: GroupPage = await self._get(url, GROUP_PAGE, params)
            params = None
            listed.extend(page.value)
            url = page.next_link
        members = await bounded_map(self._members, [group.id for group in listed], self._concurrency)
        for group, (users, subgroups) in zip(listed, members, strict=True):
            yield IdentityGroup(group.id, group.display_name or group.id, users, subgroups)

    async def aclose(self) -> None:
        await self._api.aclose()
