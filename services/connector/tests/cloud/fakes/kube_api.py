"""A fake Kubernetes API server: the few core/v1 and rbac.authorization.k8s.io/v1 endpoints Latchkey uses.

It keeps the semantics the client relies on: every write bumps a cluster-wide resourceVersion,
create of an existing name is 409 AlreadyExists, a PUT carrying a stale resourceVersion is 409
Conflict, reads and deletes of missing objects are 404 NotFound, lists honour `labelSelector`
(equality terms), and a request without the expected bearer token is 401. Not a real apiserver:
no admission, no watch, no field selectors.
"""

from __future__ import annotations

import copy
import datetime
import ssl
import uuid
from typing import Any

from .http_api import FakeHttpApi, Request, Response

_GROUPS = {
    "/api/v1": ("v1", {"namespaces": "Namespace", "secrets": "Secret"}),
    "/apis/rbac.authorization.k8s.io/v1": (
        "rbac.authorization.k8s.io/v1",
        {
            "roles": "Role",
            "clusterroles": "ClusterRole",
            "rolebindings": "RoleBinding",
            "clusterrolebindings": "ClusterRoleBinding",
        },
    ),
}
_CLUSTER_SCOPED = {"namespaces", "clusterroles", "clusterrolebindings"}


def _status(code: int, reason: str, message: str) -> Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return Response(code, {**body, "message": message, "reason": reason, "code": code})


class FakeKubernetesApi(FakeHttpApi):
    def __init__(self, token: str, tls: ssl.SSLContext | None = None) -> None:
        super().__init__(tls)
        self.token = token
        self._version = 0
        # (resource, namespace or "", name) -> object
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}

    # -- seeding from tests --------------------------------------------------------------------------
    def put(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            namespace = "" if resource in _CLUSTER_SCOPED else obj["metadata"].get("namespace", "default")
            return self._store(resource, namespace, copy.deepcopy(obj))

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.objects.get((resource, "" if resource in _CLUSTER_SCOPED else namespace, name))
            return copy.deepcopy(found) if found else None

    def names(self, resource: str, namespace: str = "") -> list[str]:
        with self.lock:
            return sorted(n for (r, ns, n) in self.objects if r == resource and ns == namespace)

    # -- HTTP ------------------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        return None

    def dispatch(self, request: Request) -> Response:
        refusal = self.authorize(request)
        if refusal is not None:
            return refusal
        prefix = next((p for p in _GROUPS if request.path.startswith(p + "/")), None)
        if prefix is None:
            return _status(
                404, "NotFound", f"the server could not find the requested resource {request.path}"
            )
        api_version, kinds = _GROUPS[prefix]
        parts = request.path[len(prefix) + 1 :].split("/")
        namespace, name = "", None
        if parts[0] == "namespaces" and len(parts) >= 3:
            namespace, parts = parts[1], parts[2:]
        resource = parts[0]
        if len(parts) > 1:
            name = parts[1]
        if resource not in kinds or len(parts) > 2:
            return _status(
                404, "NotFound", f"the server could not find the requested resource {request.path}"
            )
        with self.lock:
            return self._handle(request, api_version, kinds[resource], resource, namespace, name)

    def _handle(
        self, request: Request, api_version: str, kind: str, resource: str, namespace: str, name: str | None
    ) -> Response:
        key_ns = "" if resource in _CLUSTER_SCOPED else namespace
        if name is None and request.method == "GET":
            return Response(200, self._list(api_version, kind, resource, namespace, request.query))
        if name is None and request.method == "POST":
            body = request.json()
            obj_name = body.get("metadata", {}).get("name")
            if not obj_name:
                return _status(422, "Invalid", f"{kind} metadata.name: Required value")
            if (resource, key_ns, obj_name) in self.objects:
                return _status(409, "AlreadyExists", f'{resource} "{obj_name}" already exists')
            if key_ns and ("namespaces", "", key_ns) not in self.objects:
                return _status(404, "NotFound", f'namespaces "{key_ns}" not found')
            body.update(apiVersion=api_version, kind=kind)
            return Response(201, self._store(resource, key_ns, body))
        if name is None:
            return _status(405, "MethodNotAllowed", "method not allowed")
        current = self.objects.get((resource, key_ns, name))
        if current is None:
            return _status(404, "NotFound", f'{resource} "{name}" not found')
        if request.method == "GET":
            return Response(200, copy.deepcopy(current))
        if request.method == "DELETE":
            del self.objects[(resource, key_ns, name)]
            self._version += 1
            return Response(200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}})
        if request.method == "PUT":
            body = request.json()
            sent = body.get("metadata", {}).get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                return _status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                )
            if kind in ("RoleBinding", "ClusterRoleBinding") and body.get("roleRef") != current.get(
                "roleRef"
            ):
                return _status(422, "Invalid", f'{kind} "{name}" is invalid: roleRef: cannot change roleRef')
            body.update(apiVersion=api_version, kind=kind)
            body["metadata"]["uid"] = current["metadata"]["uid"]
            body["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"]
            return Response(200, self._store(resource, key_ns, body))
        return _status(405, "MethodNotAllowed", "method not allowed")

    def _store(self, resource: str, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        self._version += 1
        metadata = obj.setdefault("metadata", {})
        if namespace:
            metadata["namespace"] = namespace
        metadata.setdefault("uid", str(uuid.uuid4()))
        metadata.setdefault(
            "creationTimestamp", datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        metadata["resourceVersion"] = str(self._version)
        self.objects[(resource, namespace, metadata["name"])] = obj
        return copy.deepcopy(obj)

    def _list(
        self, api_version: str, kind: str, resource: str, namespace: str, query: dict[str, str]
    ) -> dict[str, Any]:
        wanted: dict[str, str] = {}
        for term in filter(None, query.get("labelSelector", "").split(",")):
            label, _, value = term.partition("=")
            wanted[label.strip()] = value.lstrip("=").strip()
        items = []
        for (r, ns, _), obj in sorted(self.objects.items()):
            if r != resource or (namespace and ns != namespace):
                continue
            labels = obj["metadata"].get("labels") or {}
            if all(labels.get(k) == v for k, v in wanted.items()):
                items.append(copy.deepcopy(obj))
        return {
            "kind": f"{kind}List",
            "apiVersion": api_version,
            "metadata": {"resourceVersion": str(self._version)},
            "items": items,
        }
