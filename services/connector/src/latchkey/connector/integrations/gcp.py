"""`gcp`: project IAM policy bindings through the Cloud Resource Manager REST API (httpx).

connection:
    crm_url: https://cloudresourcemanager.googleapis.com   # default; a local fake in tests
    projects: [acme-prod, acme-data]                       # inventoried projects
    verify_tls: true
secret: optional reference to a service-account key (JSON); without it Application Default Credentials
    (workload identity, metadata server) are used, which is the recommended setup. The key is fetched per
    command and exchanged for a short-lived access token at its own `token_uri`.

Template operations (strings may use `{parameter}`, `{resource}`, `{user_id}`, `{email}`, `{grant_id}`):

    add_binding / remove_binding:  project, role (roles/... or projects/P/roles/...), member (user:{email})

Every change is a read-modify-write of the whole policy guarded by its etag (getIamPolicy, then
setIamPolicy with that etag); a concurrent change makes Google answer 409 ABORTED, and the whole cycle
is retried with jittered backoff, so no other writer's binding is ever lost.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import httpx

from .base import (
    AccessSpec,
    IntegrationError,
    InventoryItem,
    OperationsIntegration,
    api_error,
    api_error_field,
    before_changes,
    in_order,
    register,
)
from .operations import access_values, check_operations, fill_placeholders, placeholders_in

if TYPE_CHECKING:
    from latchkey.connector.templates import Template

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
_FIELDS = frozenset({"project", "role", "member"})
SHAPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "add_binding": (_FIELDS, frozenset()),
    "remove_binding": (_FIELDS, frozenset()),
}
MAX_ATTEMPTS = 6
_MEMBER_KINDS = ("user:", "group:", "serviceAccount:", "domain:", "principal:", "principalSet:")


def apply_binding_change(policy: dict[str, Any], role: str, member: str, *, add: bool) -> bool:
    """Change `policy` in place (unconditional bindings only); False if it already had the wanted state."""
    bindings: list[dict[str, Any]] = policy.setdefault("bindings", [])
    binding = next((b for b in bindings if b.get("role") == role and "condition" not in b), None)
    if add:
        if binding is None:
            bindings.append({"role": role, "members": [member]})
            return True
        if member in binding.get("members", []):
            return False
        binding.setdefault("members", []).append(member)
        return True
    if binding is None or member not in binding.get("members", []):
        return False
    binding["members"].remove(member)
    if not binding["members"]:
        bindings.remove(binding)
    return True


@register
class GcpIntegration(OperationsIntegration):
    type: ClassVar[str] = "gcp"
    connection_keys: ClassVar[frozenset[str]] = frozenset({"crm_url", "projects", "verify_tls"})

    @classmethod
    def validate_operations(cls, template: Template) -> None:
        for operation in check_operations(template, SHAPES):
            _check_role_and_member(operation, literal_only=True)

    async def sync_inventory(self) -> list[InventoryItem]:
        permissions = [t.name for t in self.templates.for_type(self.type) if t.name in self.config.templates]
        items: list[InventoryItem] = []
        async with await self._client() as client:
            for project in self.config.connection.get("projects", []):
                policy = await self._get_policy(client, str(project))
                roles = sorted({str(b["role"]) for b in policy.get("bindings", [])})
                # Names and metadata only: which roles are bound, never who holds them beyond owners.
                owners = sorted(
                    m
                    for b in policy.get("bindings", [])
                    if b.get("role") == "roles/owner"
                    for m in b["members"]
                )
                items.append(
                    InventoryItem(
                        f"projects/{project}",
                        "gcp.project",
                        str(project),
                        permissions,
                        owner_ids=owners,
                        tags={"bound_roles": ",".join(roles)},
                    )
                )
        return items

    # -- plumbing ----------------------------------------------------------------------------------------
    async def _access_token(self) -> str:
        import google.auth
        from google.auth.transport.requests import Request
        from google.oauth2 import service_account

        if self.config.secret:
            secret = await self.secrets.fetch(self.config.secret)
            try:
                info = json.loads(secret.reveal())
                credentials: Any = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
            except (ValueError, KeyError, TypeError):
                raise IntegrationError(
                    f"secret {self.config.secret} must be a GCP service-account key (JSON)"
                ) from None
            del secret
        else:
            credentials, _ = await asyncio.to_thread(google.auth.default, scopes=SCOPES)
        try:
            await asyncio.to_thread(credentials.refresh, Request())
        except google.auth.exceptions.TransportError as exc:
            raise IntegrationError(
                f"gcp: cannot reach the token endpoint ({type(exc).__name__})", retryable=True
            ) from None
        except google.auth.exceptions.GoogleAuthError as exc:
            # e.g. RefreshError: a revoked or deleted key; retrying will not help, an operator must act.
            raise IntegrationError(f"gcp: the credential was refused ({type(exc).__name__})") from None
        return str(credentials.token)

    async def _client(self) -> httpx.AsyncClient:
        connection = self.config.connection
        token = await self._access_token()
        return httpx.AsyncClient(
            base_url=str(connection.get("crm_url", "https://cloudresourcemanager.googleapis.com")),
            headers={"Authorization": f"Bearer {token}"},
            verify=bool(connection.get("verify_tls", True)),
            timeout=30.0,
        )

    async def _run(self, access: AccessSpec, operations: list[dict[str, Any]]) -> None:
        if not operations:
            return
        with before_changes():
            values = access_values(access)
            filled = [fill_placeholders(dict(operation), values) for operation in operations]
            client = await self._client()
        async with client:
            await in_order(filled, lambda operation: self._change(client, operation))

    async def _change(self, client: httpx.AsyncClient, operation: Mapping[str, Any]) -> None:
        _check_role_and_member(operation, literal_only=False)
        project, role, member = str(operation["project"]), str(operation["role"]), str(operation["member"])
        add = operation["op"] == "add_binding"
        for attempt in range(1, MAX_ATTEMPTS + 1):
            policy = await self._get_policy(client, project)
            if not apply_binding_change(policy, role, member, add=add):
                return  # already granted / already revoked: no write
            # Conditional role bindings need policy version 3 on write; keep what was read otherwise.
            response = await client.post(
                f"/v1/projects/{project}:setIamPolicy",
                json={"policy": policy, "updateMask": "bindings,etag"},
            )
            if response.status_code == 200:
                return
            if response.status_code in (409, 412) or _status(response) == "ABORTED":
                # Someone changed the policy between our read and write: re-read and try again.
                await asyncio.sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
                continue
            raise _error(f"setIamPolicy on {project}", response)
        raise IntegrationError(
            f"gcp: the IAM policy of {project} kept changing ({MAX_ATTEMPTS} conflicting writes)",
            retryable=True,
        )

    @staticmethod
    async def _get_policy(client: httpx.AsyncClient, project: str) -> dict[str, Any]:
        try:
            response = await client.post(
                f"/v1/projects/{project}:getIamPolicy", json={"options": {"requestedPolicyVersion": 3}}
            )
        except httpx.HTTPError as exc:
            raise IntegrationError(
                f"gcp: cannot reach Resource Manager ({type(exc).__name__})", retryable=True
            ) from None
        if response.status_code != 200:
            raise _error(f"getIamPolicy on {project}", response)
        policy: dict[str, Any] = response.json()
        return policy


def _check_role_and_member(operation: Mapping[str, Any], *, literal_only: bool) -> None:
    """Role and member must be IAM-shaped; at load time only literal values can be checked."""
    role, member = str(operation["role"]), str(operation["member"])
    if not (literal_only and placeholders_in(role)):
        if not (role.startswith("roles/") or (role.startswith("projects/") and "/roles/" in role)):
            raise _invalid(operation, literal_only, "role must be roles/... or projects/P/roles/...")
    if not (literal_only and member.startswith("{")):
        if not member.startswith(_MEMBER_KINDS):
            raise _invalid(operation, literal_only, f"member must start with one of {list(_MEMBER_KINDS)}")


def _invalid(operation: Mapping[str, Any], at_load: bool, problem: str) -> Exception:
    message = f"{operation['op']}: {problem}"
    return ValueError(message) if at_load else IntegrationError(f"gcp: {message}")


def _status(response: httpx.Response) -> str:
    return api_error_field(response, "status")


def _error(what: str, response: httpx.Response) -> IntegrationError:
    return api_error("gcp", what, response, code_field="status")
