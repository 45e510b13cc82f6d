"""Kubernetes RBAC integration through the official client against a real kube-apiserver, where the
connector's user holds only its documented RBAC (`kube_apiserver.CONNECTOR_RULES`)."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import utils

from latchkey.connector.config import IntegrationConfig
from latchkey.connector.integrations.base import IntegrationError
from latchkey.connector.integrations.kubernetes import KubernetesIntegration
from latchkey.connector.secrets import SecretProviderSettings, SecretResolver, SecretUnavailable
from latchkey.connector.templates import TemplateSet
from latchkey.runtime.testing.infra import helm_binary, repo_root

from .conftest import access_for, unique
from .kube_apiserver import CONNECTOR_USER, KubeApiServer

CHART = repo_root() / "deploy" / "helm" / "latchkey"


def _binding(cluster: KubeApiServer, namespace: str, name: str) -> Any | None:
    """The RoleBinding as the API server has it (read as the administrator), or None."""
    from kubernetes.client.exceptions import ApiException

    try:
        return cluster.rbac().read_namespaced_role_binding(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def _role(cluster: KubeApiServer, namespace: str, name: str) -> None:
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    cluster.rbac().create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})


@pytest.fixture(scope="module")
def connector_token_ref(kubernetes_cluster: KubeApiServer) -> str:
    # The token the connector acts with lives in a Secret of its own namespace, fetched per command
    # (with the provider's kubeconfig, which is the connector's user too).
    token = base64.b64encode(kubernetes_cluster.connector_token.encode()).decode()
    kubernetes_cluster.core().create_namespaced_secret(
        "kube-system", {"metadata": {"name": CONNECTOR_USER}, "data": {"token": token}}
    )
    return f"k8s://kube-system/{CONNECTOR_USER}/token"


def _integration(
    cluster: KubeApiServer, resolver: SecretResolver, templates: TemplateSet, secret: str
) -> KubernetesIntegration:
    config = IntegrationConfig(
        id="cluster-prod",
        type="kubernetes",
        connection={"server": cluster.server, "ca_file": cluster.ca_file},
        secret=secret,
        templates=["namespace-role", "namespace-view", "cluster-role-group"],
    )
    return KubernetesIntegration(config, resolver, templates)


@pytest.fixture
def kubernetes(
    kubernetes_cluster: KubeApiServer,
    resolver: SecretResolver,
    cloud_templates: TemplateSet,
    connector_token_ref: str,
) -> KubernetesIntegration:
    return _integration(kubernetes_cluster, resolver, cloud_templates, connector_token_ref)


async def test_role_binding_is_created_then_deleted_twice(
    kubernetes: KubernetesIntegration, kubernetes_cluster: KubeApiServer, cloud_templates: TemplateSet
) -> None:
    role = unique("pod-reader")
    _role(kubernetes_cluster, "payments", role)
    access = access_for(
        cloud_templates, "kubernetes", "namespace-role", {"namespace": "payments", "role": role}
    )
    name = f"latchkey-{access.grant_id}"

    for _ in range(2):
        await kubernetes.grant(access)
        binding = _binding(kubernetes_cluster, "payments", name)
        assert binding is not None
        await kubernetes.grant(access)  # already granted: no write at all
        again = _binding(kubernetes_cluster, "payments", name)
        assert again is not None and again.metadata.resource_version == binding.metadata.resource_version
        assert (binding.role_ref.api_group, binding.role_ref.kind, binding.role_ref.name) == (
            "rbac.authorization.k8s.io",
            "Role",
            role,
        )
        assert [(s.api_group, s.kind, s.name) for s in binding.subjects] == [
            ("rbac.authorization.k8s.io", "User", "alice@example.com")
        ]
        assert binding.metadata.labels["app.kubernetes.io/managed-by"] == "latchkey"

        await kubernetes.revoke(access)
        await kubernetes.revoke(access)  # already revoked (404) = success
        assert _binding(kubernetes_cluster, "payments", name) is None


async def test_cluster_role_binding_for_a_group_twice(
    kubernetes: KubernetesIntegration, kubernetes_cluster: KubeApiServer, cloud_templates: TemplateSet
) -> None:
    """cluster-admin, which every cluster has: the connector holds none of its permissions, only `bind`."""
    from kubernetes.client.exceptions import ApiException

    rbac = kubernetes_cluster.rbac()
    access = access_for(
        cloud_templates,
        "kubernetes",
        "cluster-role-group",
        {"cluster_role": "cluster-admin", "group": "sre-oncall"},
    )
    name = f"latchkey-{access.grant_id}"
    for _ in range(2):
        await kubernetes.grant(access)
        await kubernetes.grant(access)
        binding = rbac.read_cluster_role_binding(name)
        assert [(s.kind, s.name) for s in binding.subjects] == [("Group", "sre-oncall")]
        assert binding.role_ref.name == "cluster-admin"
        await kubernetes.revoke(access)
        await kubernetes.revoke(access)
        with pytest.raises(ApiException) as gone:
            rbac.read_cluster_role_binding(name)
        assert gone.value.status == 404


async def test_binding_not_managed_by_latchkey_is_never_touched(
    kubernetes: KubernetesIntegration, kubernetes_cluster: KubeApiServer, cloud_templates: TemplateSet
) -> None:
    access = access_for(cloud_templates, "kubernetes", "namespace-view", {"namespace": "payments"})
    name = f"latchkey-{access.grant_id}"
    kubernetes_cluster.rbac().create_namespaced_role_binding(
        "payments",
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mallory"}],
        },
    )
    with pytest.raises(IntegrationError, match="not managed by Latchkey"):
        await kubernetes.grant(access)
    with pytest.raises(IntegrationError, match="not managed by Latchkey"):
        await kubernetes.revoke(access)
    still = _binding(kubernetes_cluster, "payments", name)
    assert still is not None and [s.name for s in still.subjects] == ["mallory"]


async def test_binding_in_a_missing_namespace_fails_with_the_api_reason(
    kubernetes: KubernetesIntegration, cloud_templates: TemplateSet
) -> None:
    access = access_for(cloud_templates, "kubernetes", "namespace-view", {"namespace": "no-such-namespace"})
    with pytest.raises(IntegrationError, match="404"):
        await kubernetes.grant(access)


async def test_wrong_token_is_refused_and_not_echoed(
    kubernetes_cluster: KubeApiServer,
    resolver: SecretResolver,
    cloud_templates: TemplateSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LATCHKEY_TEST_KUBE_TOKEN", "wrong-token-value")
    integration = _integration(
        kubernetes_cluster, resolver, cloud_templates, "env://LATCHKEY_TEST_KUBE_TOKEN"
    )
    access = access_for(cloud_templates, "kubernetes", "namespace-view", {"namespace": "payments"})
    with pytest.raises(IntegrationError) as caught:
        await integration.grant(access)
    assert "401" in str(caught.value)
    assert "wrong-token-value" not in str(caught.value)


async def test_inventory_lists_namespaces_and_roles(
    kubernetes: KubernetesIntegration, kubernetes_cluster: KubeApiServer
) -> None:
    role = unique("deployer")
    _role(kubernetes_cluster, "default", role)
    items = {(i.resource_type, i.name) for i in await kubernetes.sync_inventory()}
    assert ("kubernetes.namespace", "payments") in items
    assert ("kubernetes.role", f"default/{role}") in items


async def test_the_helm_charts_rbac_lets_the_connector_grant_what_it_names_and_nothing_else(
    kubernetes_cluster: KubeApiServer,
    resolver: SecretResolver,
    provider_settings: SecretProviderSettings,
    cloud_templates: TemplateSet,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The chart's `connector.kubernetesRbac`, rendered by helm and applied to the API server, lets the
    connector's service account (a real token from the TokenRequest API) bind the roles named in it and
    read the Secrets named in it, and refuses it any other role or Secret."""
    helm = helm_binary()
    if helm is None:
        pytest.skip("helm is not installed (`make setup` builds it: deploy/helm/check --install)")
    namespace, role = unique("latchkey"), unique("pod-reader")
    values = {
        "connector": {
            "kubernetesRbac": {
                "create": True,
                "bindableRoles": [role],
                "secrets": [{"namespace": namespace, "names": ["appdb-admin"]}],
            }
        }
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    rendered = subprocess.run(
        [
            *(helm, "template", "lk", str(CHART), "--namespace", namespace),
            *("-f", str(CHART / "ci" / "test-values.yaml"), "-f", str(tmp_path / "values.yaml")),
            *("--set", f"connector.serviceAccount.name={namespace}"),
            *("-s", "templates/connector-rbac.yaml", "-s", "templates/serviceaccounts.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    core = kubernetes_cluster.core()
    core.create_namespace({"metadata": {"name": namespace}})
    for document in yaml.safe_load_all(rendered.stdout):
        if document and document["metadata"]["labels"]["app.kubernetes.io/component"] == "connector":
            utils.create_from_dict(kubernetes_cluster.admin(), document, namespace=namespace)
    token = core.create_namespaced_service_account_token(namespace, namespace, {"spec": {}}).status.token
    monkeypatch.setenv("LATCHKEY_TEST_CONNECTOR_SA_TOKEN", token)
    connector = _integration(
        kubernetes_cluster,
        resolver,
        cloud_templates,
        "env://LATCHKEY_TEST_CONNECTOR_SA_TOKEN",
    )

    _role(kubernetes_cluster, "payments", role)
    named = access_for(
        cloud_templates, "kubernetes", "namespace-role", {"namespace": "payments", "role": role}
    )
    view = access_for(cloud_templates, "kubernetes", "namespace-view", {"namespace": "payments"})
    for access in (named, view):  # the Role it names, and `view`, the chart's default ClusterRole
        await connector.grant(access)
        assert _binding(kubernetes_cluster, "payments", f"latchkey-{access.grant_id}") is not None
        await connector.revoke(access)
        assert _binding(kubernetes_cluster, "payments", f"latchkey-{access.grant_id}") is None
    other = unique("pod-reader")
    _role(kubernetes_cluster, "payments", other)
    for refused in (
        access_for(cloud_templates, "kubernetes", "namespace-role", {"namespace": "payments", "role": other}),
        access_for(
            cloud_templates,
            "kubernetes",
            "cluster-role-group",
            {"cluster_role": "cluster-admin", "group": "sre"},
        ),
    ):
        with pytest.raises(IntegrationError, match="403"):
            await connector.grant(refused)
    assert {item.name for item in await connector.sync_inventory()} >= {"payments", f"payments/{role}"}

    secret = base64.b64encode(b"appdb-admin-password").decode()
    for name in ("appdb-admin", "someone-elses"):
        core.create_namespaced_secret(namespace, {"metadata": {"name": name}, "data": {"password": secret}})
    kubeconfig = kubernetes_cluster.write_kubeconfig(tmp_path / "kubeconfig", token)
    reader = SecretResolver.default(provider_settings.model_copy(update={"kubeconfig": kubeconfig}))
    try:
        assert (
            await reader.fetch(f"k8s://{namespace}/appdb-admin/password")
        ).reveal() == "appdb-admin-password"
        with pytest.raises(SecretUnavailable, match="403"):
            await reader.fetch(f"k8s://{namespace}/someone-elses/password")
    finally:
        await reader.close()
