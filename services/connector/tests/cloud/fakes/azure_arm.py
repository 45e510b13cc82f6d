"""A fake of Azure Resource Manager's role-assignment API (Microsoft.Authorization, api-version 2022-04-01).

It keeps ARM's semantics: PUT of an assignment name creates it (201) or confirms the identical one (201),
a second assignment of the same principal+role+scope under another name is 409 RoleAssignmentExists,
GET/DELETE of a missing name is 404 / 204, list takes `$filter=principalId eq '...'`, and a request
without the bearer token is 401. Also lists resource groups and role definitions for inventory.
"""

from __future__ import annotations

import copy
from typing import Any

from .http_api import FakeHttpApi, Request, Response

_PROVIDER = "/providers/Microsoft.Authorization"


class FakeAzureResourceManager(FakeHttpApi):
    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.assignments: dict[str, dict[str, Any]] = {}  # full id -> assignment
        self.resource_groups: dict[str, list[str]] = {}  # subscription -> names
        self.role_definitions: dict[str, str] = {}  # guid -> role name
        scope = r"(?P<scope>/subscriptions/[0-9a-f-]{36}(?:/resourceGroups/[^/]+)?)"
        self.route("PUT", scope + _PROVIDER + r"/roleAssignments/(?P<name>[0-9a-f-]{36})")(self._put)
        self.route("GET", scope + _PROVIDER + r"/roleAssignments/(?P<name>[0-9a-f-]{36})")(self._get)
        self.route("DELETE", scope + _PROVIDER + r"/roleAssignments/(?P<name>[0-9a-f-]{36})")(self._delete)
        self.route("GET", scope + _PROVIDER + r"/roleAssignments")(self._list)
        self.route("GET", scope + _PROVIDER + r"/roleDefinitions")(self._definitions)
        self.route("GET", r"/subscriptions/(?P<subscription>[0-9a-f-]{36})/resourcegroups")(self._groups)

    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if "api-version" not in request.query:
            return _error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        return None

    def at_scope(self, scope: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(a) for a in self.assignments.values() if a["properties"]["scope"] == scope]

    def _put(self, request: Request) -> Response:
        scope, name = request.params["scope"], request.params["name"]
        properties = request.json()["properties"]
        assignment_id = f"{scope}{_PROVIDER}/roleAssignments/{name}"
        wanted = (properties["principalId"], properties["roleDefinitionId"].lower(), scope.lower())
        for other_id, other in self.assignments.items():
            p = other["properties"]
            if (p["principalId"], p["roleDefinitionId"].lower(), p["scope"].lower()) == wanted:
                if other_id == assignment_id:
                    return Response(201, copy.deepcopy(other))
                return _error(
                    409, "RoleAssignmentExists", f"The role assignment already exists. ID: {other['name']}"
                )
        if assignment_id in self.assignments:
            return _error(
                409,
                "RoleAssignmentUpdateNotPermitted",
                "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
            )
        assignment = {
            "id": assignment_id,
            "name": name,
            "type": "Microsoft.Authorization/roleAssignments",
            "properties": {
                "scope": scope,
                "roleDefinitionId": properties["roleDefinitionId"],
                "principalId": properties["principalId"],
                "principalType": properties.get("principalType", "User"),
                "description": properties.get("description"),
            },
        }
        self.assignments[assignment_id] = assignment
        return Response(201, copy.deepcopy(assignment))

    def _get(self, request: Request) -> Response:
        found = self.assignments.get(
            f"{request.params['scope']}{_PROVIDER}/roleAssignments/{request.params['name']}"
        )
        if found is None:
            return _error(404, "RoleAssignmentNotFound", "The role assignment does not exist.")
        return Response(200, copy.deepcopy(found))

    def _delete(self, request: Request) -> Response:
        found = self.assignments.pop(
            f"{request.params['scope']}{_PROVIDER}/roleAssignments/{request.params['name']}", None
        )
        return Response(204) if found is None else Response(200, found)

    def _list(self, request: Request) -> Response:
        principal = None
        text = request.query.get("$filter", "")
        if text.startswith("principalId eq '"):
            principal = text.removeprefix("principalId eq '").rstrip("'")
        scope = request.params["scope"].lower()
        value = [
            copy.deepcopy(a)
            for a in self.assignments.values()
            if a["properties"]["scope"].lower().startswith(scope)
            and (principal is None or a["properties"]["principalId"] == principal)
        ]
        return Response(200, {"value": value})

    def _definitions(self, request: Request) -> Response:
        scope = request.params["scope"]
        value = [
            {
                "id": f"{scope}{_PROVIDER}/roleDefinitions/{guid}",
                "name": guid,
                "type": "Microsoft.Authorization/roleDefinitions",
                "properties": {"roleName": role_name, "type": "BuiltInRole"},
            }
            for guid, role_name in sorted(self.role_definitions.items())
        ]
        return Response(200, {"value": value})

    def _groups(self, request: Request) -> Response:
        subscription = request.params["subscription"]
        value = [
            {
                "id": f"/subscriptions/{subscription}/resourceGroups/{name}",
                "name": name,
                "location": "westeurope",
                "tags": {},
            }
            for name in self.resource_groups.get(subscription, [])
        ]
        return Response(200, {"value": value})


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})


class FakeEntraId(FakeHttpApi):
    """The two Entra ID (AAD) endpoints MSAL uses for a client-credentials token: OIDC discovery and
    `/{tenant}/oauth2/v2.0/token`. Served over HTTPS, since azure-identity refuses a plain-HTTP authority."""

    def __init__(self, tls: Any, client_id: str, client_secret: str, access_token: str) -> None:
        super().__init__(tls)
        self.client_id, self.client_secret, self.access_token = client_id, client_secret, access_token
        self.route("GET", r"/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration")(self._discovery)
        self.route("POST", r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token")(self._token)

    def _discovery(self, request: Request) -> Response:
        base = f"{self.base_url}/{request.params['tenant']}"
        return Response(
            200,
            {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            },
        )

    def _token(self, request: Request) -> Response:
        from urllib.parse import parse_qs

        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != (self.client_id, self.client_secret):
            return Response(
                401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}
            )
        return Response(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": self.access_token,
            },
        )
