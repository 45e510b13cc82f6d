"""`azure`: Azure RBAC role assignments through the Azure Resource Manager REST API (httpx).

connection:
    arm_url: https://management.azure.com        # default; a local fake in tests
    subscriptions: [<subscription id>, ...]       # inventoried subscriptions
    tenant_id: <tenant>                           # with a client-secret `secret`
    client_id: <app id>
    authority_host: https://login.microsoftonline.us   # optional: sovereign clouds
    ca_file: /etc/latchkey/ca.pem                 # optional CA bundle (ARM and the authority)
    verify_tls: true
secret: optional reference. A JSON object {"client_secret": ...} (or the bare client secret) authenticates
    the app registration `client_id` in `tenant_id`; {"access_token": ...} is a token minted elsewhere (a
    sidecar, an emulator). Without a secret, DefaultAzureCredential is used (workload / managed identity),
    which is the recommended setup.

Template operations (strings may use `{parameter}`, `{resource}`, `{user_id}`, `{email}`, `{grant_id}`):

    assign_role / remove_role:
        scope: /subscriptions/{subscription}/resourceGroups/{resource_group}
        role_definition_id: /subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/<id>
        principal_id: "{user_id}"          # the Entra ID object id, as identity-sync reports it
        principal_type: User               # optional: User (default), Group, ServicePrincipal

The assignment's name is a UUID derived from the grant, scope, role and principal, so a retried grant
PUTs the same assignment (idempotent) and a revoke deletes exactly the assignment its grant created.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import uuid
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
from .operations import access_values, check_operations, fill_placeholders

if TYPE_CHECKING:
    from latchkey.connector.config import IntegrationConfig
    from latchkey.connector.templates import Template

API_VERSION = "2022-04-01"
ARM_SCOPE = "https://management.azure.com/.default"
# A fixed namespace so assignment names are stable across replicas and restarts.
ASSIGNMENT_NAMESPACE = uuid.UUID("6f1c3a52-7d0e-4b8e-9a43-0c1d5e7f2b90")
_FIELDS = frozenset({"scope", "role_definition_id", "principal_id"})
SHAPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "assign_role": (_FIELDS, frozenset({"principal_type"})),
    "remove_role": (_FIELDS, frozenset({"principal_type"})),
}


def assignment_name(grant_id: str, scope: str, role_definition_id: str, principal_id: str) -> str:
    key = "|".join((grant_id, scope.lower(), role_definition_id.lower(), principal_id))
    return str(uuid.uuid5(ASSIGNMENT_NAMESPACE, key))


@register
class AzureIntegration(OperationsIntegration):
    type: ClassVar[str] = "azure"
    connection_keys: ClassVar[frozenset[str]] = frozenset(
        {"arm_url", "subscriptions", "tenant_id", "client_id", "authority_host", "ca_file", "verify_tls"}
    )

    @classmethod
    def check_connection(cls, config: IntegrationConfig) -> None:
        super().check_connection(config)
        # Only a client secret uses them, and it needs both: one alone is a half-done setup.
        given = [key for key in ("tenant_id", "client_id") if config.connection.get(key)]
        if len(given) == 1:
            raise ValueError(
                f"integration {config.id!r} (azure): connection.tenant_id and connection.client_id go "
                f"together (the app registration a client secret authenticates); only {given[0]} is set"
            )

    @classmethod
    def validate_operations(cls, template: Template) -> None:
        for operation in check_operations(template, SHAPES):
            if not str(operation["scope"]).startswith("/"):
                raise ValueError(
                    f"{operation['op']}: scope is an ARM resource id starting with /subscriptions/"
                )
            if "/providers/Microsoft.Authorization/roleDefinitions/" not in str(
                operation["role_definition_id"]
            ):
                raise ValueError(
                    f"{operation['op']}: role_definition_id must be a roleDefinitions resource id"
                )
            if operation.get("principal_type", "User") not in ("User", "Group", "ServicePrincipal"):
                raise ValueError(f"{operation['op']}: principal_type must be User, Group or ServicePrincipal")

    async def sync_inventory(self) -> list[InventoryItem]:
        permissions = [t.name for t in self.templates.for_type(self.type) if t.name in self.config.templates]
        items: list[InventoryItem] = []
        async with await self._client() as client:
            for subscription in self.config.connection.get("subscriptions", []):
                scope = f"/subscriptions/{subscription}"
                items.append(InventoryItem(scope, "azure.subscription", str(subscription), permissions))
                groups = await self._get(client, f"{scope}/resourcegroups", "2021-04-01")
                for group in groups.get("value", []):
                    tags = {str(k): str(v) for k, v in (group.get("tags") or {}).items()}
                    items.append(
                        InventoryItem(
                            group["id"], "azure.resource_group", group["name"], permissions, tags=tags
                        )
                    )
                definitions = await self._get(
                    client, f"{scope}/providers/Microsoft.Authorization/roleDefinitions"
                )
                for definition in definitions.get("value", []):
                    items.append(
                        InventoryItem(
                            definition["id"],
                            "azure.role_definition",
                            definition["properties"]["roleName"],
                            permissions=[],
                        )
                    )
        return items

    # -- plumbing ----------------------------------------------------------------------------------------
    async def _access_token(self) -> str:
        connection = self.config.connection
        if self.config.secret:
            secret = await self.secrets.fetch(self.config.secret)
            try:
                parsed = json.loads(secret.reveal())
            except ValueError:
                parsed = {"client_secret": secret.reveal()}
            del secret
            if not isinstance(parsed, dict):
                raise IntegrationError(
                    f"secret {self.config.secret} must be a client secret or a JSON object"
                )
            if parsed.get("access_token"):
                return str(parsed["access_token"])
            if not (
                parsed.get("client_secret") and connection.get("tenant_id") and connection.get("client_id")
            ):
                raise IntegrationError(
                    "azure: a client secret needs connection.tenant_id and connection.client_id"
                )
            from azure.identity import ClientSecretCredential

            credential: Any = ClientSecretCredential(
                str(connection["tenant_id"]),
                str(connection["client_id"]),
                str(parsed["client_secret"]),
                **_identity_options(connection),
            )
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        from azure.core.exceptions import ClientAuthenticationError

        # The sync credential in a thread: azure-identity's aio flavour would need aiohttp as well.
        try:
            token = await asyncio.to_thread(credential.get_token, ARM_SCOPE)
        except ClientAuthenticationError as exc:
            raise IntegrationError(f"azure: cannot obtain a token ({type(exc).__name__})") from None
        finally:
            await asyncio.to_thread(credential.close)
        return str(token.token)

    async def _client(self) -> httpx.AsyncClient:
        connection = self.config.connection
        token = await self._access_token()
        return httpx.AsyncClient(
            base_url=str(connection.get("arm_url", "https://management.azure.com")),
            headers={"Authorization": f"Bearer {token}"},
            # httpx deprecates a CA path as `verify`: a context that trusts that bundle instead
            verify=ssl.create_default_context(cafile=str(connection["ca_file"]))
            if connection.get("ca_file")
            else bool(connection.get("verify_tls", True)),
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
            await in_order(filled, lambda operation: self._apply(client, operation, access.grant_id))

    async def _apply(self, client: httpx.AsyncClient, operation: Mapping[str, Any], grant_id: str) -> None:
        scope = str(operation["scope"]).rstrip("/")
        role, principal = str(operation["role_definition_id"]), str(operation["principal_id"])
        name = assignment_name(grant_id, scope, role, principal)
        path = f"{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
        try:
            if operation["op"] == "assign_role":
                body = {
                    "properties": {
                        "roleDefinitionId": role,
                        "principalId": principal,
                        "principalType": operation.get("principal_type", "User"),
                        "description": f"Latchkey grant {grant_id}",
                    }
                }
                response = await client.put(path, params={"api-version": API_VERSION}, json=body)
                if response.status_code in (200, 201):
                    return
                if response.status_code == 409 and _code(response) == "RoleAssignmentExists":
                    return  # the principal already holds that role at that scope: already granted
                raise _error(f"assign_role at {scope}", response)
            response = await client.delete(path, params={"api-version": API_VERSION})
            if response.status_code in (200, 204, 404):
                return  # removed, or already revoked
            raise _error(f"remove_role at {scope}", response)
        except httpx.HTTPError as exc:
            raise IntegrationError(
                f"azure: cannot reach ARM ({type(exc).__name__})", retryable=True
            ) from None

    @staticmethod
    async def _get(client: httpx.AsyncClient, path: str, api_version: str = API_VERSION) -> dict[str, Any]:
        try:
            response = await client.get(path, params={"api-version": api_version})
        except httpx.HTTPError as exc:
            raise IntegrationError(
                f"azure: cannot reach ARM ({type(exc).__name__})", retryable=True
            ) from None
        if response.status_code != 200:
            raise _error(f"GET {path}", response)
        result: dict[str, Any] = response.json()
        return result


def _identity_options(connection: Mapping[str, Any]) -> dict[str, Any]:
    """Sovereign clouds (and test doubles) name their own Entra ID authority and its TLS trust."""
    options: dict[str, Any] = {}
    if connection.get("authority_host"):
        options.update(authority=str(connection["authority_host"]), disable_instance_discovery=True)
    if connection.get("ca_file"):
        options["connection_verify"] = str(connection["ca_file"])
    return options


def _code(response: httpx.Response) -> str:
    return api_error_field(response, "code")


def _error(what: str, response: httpx.Response) -> IntegrationError:
    return api_error("azure", what, response, code_field="code")
