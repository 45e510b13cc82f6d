"""`kubernetes`: RBAC RoleBindings / ClusterRoleBindings for a user or group, through the official client.

connection:
    server: https://api.cluster.example:6443   # required with `secret` (a bearer token): this API server
    ca_file: /etc/latchkey/cluster-ca.pem      # optional CA bundle for `server`
    verify_tls: true                           # false only for a local test server
    kubeconfig: /path/to/kubeconfig            # used when no secret is set (else in-cluster service account)
secret: optional reference to a service-account bearer token for `server`, fetched per command.

Template operations (strings may use `{parameter}`, `{resource}`, `{user_id}`, `{email}`, `{grant_id}`):

    bind_role / unbind_role:
        binding: RoleBinding | ClusterRoleBinding
        namespace: "{namespace}"          # RoleBinding only
        role_kind: Role | ClusterRole     # a RoleBinding may reference a ClusterRole
        role_name: "{role}"
        subject_kind: User | Group
        subject_name: "{email}"
        name: "latchkey-{grant_id}"       # optional; this is the default

Every binding Latchkey creates carries the label app.kubernetes.io/managed-by=latchkey, and Latchkey
never changes or deletes a binding without it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .base import (
    BLOCKING,
    AccessSpec,
    IntegrationError,
    InventoryItem,
    OperationsIntegration,
    before_changes,
    refused_first,
    register,
)
from .operations import access_values, check_operations, fill_placeholders

if TYPE_CHECKING:
    from latchkey.connector.config import IntegrationConfig
    from latchkey.connector.templates import Template

MANAGED_BY = {"app.kubernetes.io/managed-by": "latchkey"}
GRANT_ANNOTATION = "latchkey.dev/grant-id"
RBAC_GROUP = "rbac.authorization.k8s.io"
CALL_TIMEOUT = (5, 15)
"""(connect, read) seconds of one API call: well inside the connector's command timeout, since a call
the command gave up on keeps running in its thread (base.BLOCKING)."""

_BINDING_FIELDS = frozenset({"binding", "role_kind", "role_name", "subject_kind", "subject_name"})
SHAPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "bind_role": (_BINDING_FIELDS, frozenset({"namespace", "name"})),
    "unbind_role": (_BINDING_FIELDS, frozenset({"namespace", "name"})),
}
_NOT_DNS = re.compile(r"[^a-z0-9.-]+")
_RETRYABLE_STATUS = {409, 429, 500, 502, 503, 504}


def binding_name(raw: str) -> str:
    """A valid object name (DNS subdomain) from a template's name, e.g. latchkey-<grant id>."""
    name = _NOT_DNS.sub("-", raw.lower()).strip("-.")[:253]
    if not name:
        raise IntegrationError(f"binding name {raw!r} has no valid characters")
    return name


@register
class KubernetesIntegration(OperationsIntegration):
    type: ClassVar[str] = "kubernetes"
    connection_keys: ClassVar[frozenset[str]] = frozenset({"server", "ca_file", "verify_tls", "kubeconfig"})

    @classmethod
    def check_connection(cls, config: IntegrationConfig) -> None:
        super().check_connection(config)
        if config.secret and not config.connection.get("server"):
            raise ValueError(
                f"integration {config.id!r} (kubernetes): a `secret` (a bearer token) needs "
                "connection.server, the API server it is for"
            )

    @classmethod
    def validate_operations(cls, template: Template) -> None:
        for operation in check_operations(template, SHAPES):
            binding = operation["binding"]
            if binding not in ("RoleBinding", "ClusterRoleBinding"):
                raise ValueError(f"{operation['op']}: binding must be RoleBinding or ClusterRoleBinding")
            if binding == "RoleBinding" and "namespace" not in operation:
                raise ValueError(f"{operation['op']}: a RoleBinding needs a namespace")
            if binding == "ClusterRoleBinding" and operation["role_kind"] != "ClusterRole":
                raise ValueError(f"{operation['op']}: a ClusterRoleBinding can only reference a ClusterRole")
            if operation["role_kind"] not in ("Role", "ClusterRole"):
                raise ValueError(f"{operation['op']}: role_kind must be Role or ClusterRole")
            if operation["subject_kind"] not in ("User", "Group"):
                raise ValueError(f"{operation['op']}: subject_kind must be User or Group")

    async def sync_inventory(self) -> list[InventoryItem]:
        api_client = await self._api_client()
        try:
            return await asyncio.to_thread(self._inventory, api_client)
        finally:
            await asyncio.to_thread(api_client.close)

    # -- plumbing ----------------------------------------------------------------------------------------
    async def _api_client(self) -> Any:
        from kubernetes import client

        connection = self.config.connection
        if self.config.secret:
            if not connection.get("server"):
                raise IntegrationError("kubernetes: a secret (bearer token) needs connection.server")
            token = await self.secrets.fetch(self.config.secret)
            configuration = client.Configuration()
            configuration.host = str(connection["server"])
            configuration.api_key = {"authorization": token.reveal()}
            configuration.api_key_prefix = {"authorization": "Bearer"}
            configuration.verify_ssl = bool(connection.get("verify_tls", True))
            if connection.get("ca_file"):
                configuration.ssl_ca_cert = str(connection["ca_file"])
            del token
            return client.ApiClient(configuration)
        from latchkey.connector.secrets.kubernetes import kubernetes_api_client

        return await asyncio.to_thread(kubernetes_api_client, connection.get("kubeconfig"))

    async def _run(self, access: AccessSpec, operations: list[dict[str, Any]]) -> None:
        if not operations:
            return
        with before_changes():
            values = access_values(access)
            filled = [fill_placeholders(dict(operation), values) for operation in operations]
            api_client = await self._api_client()
        # One call in a thread: the client blocks. It is closed there too, after the last operation,
        # even when the command timed out while it ran.
        await BLOCKING.run(access.grant_id, self._apply_all, api_client, filled, access.grant_id)

    def _apply_all(self, api_client: Any, operations: list[dict[str, Any]], grant_id: str) -> None:
        try:
            for index, operation in enumerate(operations):
                try:
                    self._apply(api_client, operation, grant_id)
                except IntegrationError as exc:
                    raise refused_first(index, exc) from None
        finally:
            api_client.close()

    def _apply(self, api_client: Any, operation: Mapping[str, Any], grant_id: str) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        rbac = client.RbacAuthorizationV1Api(api_client)
        name = binding_name(operation.get("name") or f"latchkey-{grant_id}")
        cluster_wide = operation["binding"] == "ClusterRoleBinding"
        namespace = operation.get("namespace", "")
        body = {
            "apiVersion": f"{RBAC_GROUP}/v1",
            "kind": operation["binding"],
            "metadata": {
                "name": name,
                "labels": dict(MANAGED_BY),
                "annotations": {GRANT_ANNOTATION: grant_id},
            },
            "roleRef": {
                "apiGroup": RBAC_GROUP,
                "kind": operation["role_kind"],
                "name": operation["role_name"],
            },
            "subjects": [
                {"apiGroup": RBAC_GROUP, "kind": operation["subject_kind"], "name": operation["subject_name"]}
            ],
        }
        if not cluster_wide:
            body["metadata"]["namespace"] = namespace
        where = f"{operation['binding']} {namespace + '/' if namespace else ''}{name}"
        try:
            if operation["op"] == "bind_role":
                self._bind(rbac, body, cluster_wide, namespace, name, where)
            else:
                self._unbind(rbac, cluster_wide, namespace, name, where)
        except ApiException as exc:
            raise IntegrationError(
                f"kubernetes {operation['op']} {where}: the API answered {exc.status} {exc.reason}",
                retryable=exc.status in _RETRYABLE_STATUS,
            ) from None
        except HTTPError as exc:
            raise IntegrationError(
                f"kubernetes {operation['op']} {where}: cannot reach the API ({type(exc).__name__})",
                retryable=True,
            ) from None

    @staticmethod
    def _read(rbac: Any, cluster_wide: bool, namespace: str, name: str) -> Any | None:
        from kubernetes.client.exceptions import ApiException

        try:
            if cluster_wide:
                return rbac.read_cluster_role_binding(name, _request_timeout=CALL_TIMEOUT)
            return rbac.read_namespaced_role_binding(name, namespace, _request_timeout=CALL_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _bind(
        self, rbac: Any, body: dict[str, Any], cluster_wide: bool, namespace: str, name: str, where: str
    ) -> None:
        from kubernetes.client.exceptions import ApiException

        for _ in range(5):
            existing = self._read(rbac, cluster_wide, namespace, name)
            try:
                if existing is None:
                    if cluster_wide:
                        rbac.create_cluster_role_binding(body, _request_timeout=CALL_TIMEOUT)
                    else:
                        rbac.create_namespaced_role_binding(namespace, body, _request_timeout=CALL_TIMEOUT)
                    return
                _require_managed(existing, where)
                if _same_grant(existing, body):
                    return  # already granted
                if _role_ref(existing) != body["roleRef"]:
                    raise IntegrationError(
                        f"kubernetes: {where} exists with another roleRef (immutable); revoke it first"
                    )
                # Same role, other subjects: replace, guarded by resourceVersion against a concurrent writer.
                body["metadata"]["resourceVersion"] = existing.metadata.resource_version
                if cluster_wide:
                    rbac.replace_cluster_role_binding(name, body, _request_timeout=CALL_TIMEOUT)
                else:
                    rbac.replace_namespaced_role_binding(name, namespace, body, _request_timeout=CALL_TIMEOUT)
                return
            except ApiException as exc:
                if exc.status != 409:  # created or changed by someone else meanwhile: read again
                    raise
                body["metadata"].pop("resourceVersion", None)
        raise IntegrationError(f"kubernetes: {where} kept changing under us (409 five times)", retryable=True)

    def _unbind(self, rbac: Any, cluster_wide: bool, namespace: str, name: str, where: str) -> None:
        from kubernetes.client.exceptions import ApiException

        existing = self._read(rbac, cluster_wide, namespace, name)
        if existing is None:
            return  # already revoked
        _require_managed(existing, where)
        try:
            if cluster_wide:
                rbac.delete_cluster_role_binding(name, _request_timeout=CALL_TIMEOUT)
            else:
                rbac.delete_namespaced_role_binding(name, namespace, _request_timeout=CALL_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _inventory(self, api_client: Any) -> list[InventoryItem]:
        from kubernetes import client

        permissions = [t.name for t in self.templates.for_type(self.type) if t.name in self.config.templates]
        core, rbac = client.CoreV1Api(api_client), client.RbacAuthorizationV1Api(api_client)
        # The client's models type metadata as optional; the API server always sets it on listed objects.
        namespaces: list[Any] = core.list_namespace().items
        roles: list[Any] = rbac.list_role_for_all_namespaces().items
        cluster_roles: list[Any] = rbac.list_cluster_role().items
        items: list[InventoryItem] = []
        for ns in namespaces:
            name = str(ns.metadata.name)
            labels = dict(ns.metadata.labels or {})
            items.append(
                InventoryItem(f"namespace/{name}", "kubernetes.namespace", name, permissions, tags=labels)
            )
        for role in roles:
            ref = f"{role.metadata.namespace}/{role.metadata.name}"
            items.append(InventoryItem(f"role/{ref}", "kubernetes.role", ref, permissions))
        for role in cluster_roles:
            name = str(role.metadata.name)
            items.append(InventoryItem(f"clusterrole/{name}", "kubernetes.clusterrole", name, permissions))
        return items


def _require_managed(existing: Any, where: str) -> None:
    labels = existing.metadata.labels or {}
    if labels.get("app.kubernetes.io/managed-by") != "latchkey":
        raise IntegrationError(
            f"kubernetes: {where} exists and is not managed by Latchkey; refusing to touch it"
        )


def _role_ref(existing: Any) -> dict[str, str]:
    ref = existing.role_ref
    return {"apiGroup": ref.api_group, "kind": ref.kind, "name": ref.name}


def _same_grant(existing: Any, body: Mapping[str, Any]) -> bool:
    subjects = [{"apiGroup": s.api_group, "kind": s.kind, "name": s.name} for s in (existing.subjects or [])]
    return bool(_role_ref(existing) == body["roleRef"] and subjects == body["subjects"])
