"""Kubernetes RBAC integration through the official client against the fake API server."""

from __future__ import annotations

import base64

import pytest

from latchkey.connector.config import IntegrationConfig
from latchkey.connector.integrations.base import IntegrationError
from latchkey.connector.integrations.kubernetes import KubernetesIntegration
from latchkey.connector.secrets import SecretResolver
from latchkey.connector.templates import TemplateSet

from .conftest import KubernetesFake, access_for, unique


@pytest.fixture(scope="module")
def connector_token_ref(kubernetes_fake: KubernetesFake) -> str:
    # The connector's service-account token lives in a Secret of its own namespace, fetched per command.
    token = base64.b64encode(kubernetes_fake.token.encode()).decode()
    kubernetes_fake.api.put(
        "secrets",
        {"metadata": {"name": "latchkey-connector", "namespace": "kube-system"}, "data": {"token": token}},
    )
    return "k8s://kube-system/latchkey-connector/token"


def _integration(
    kubernetes_fake: KubernetesFake, resolver: SecretResolver, templates: TemplateSet, secret: str
) -> KubernetesIntegration:
    config = IntegrationConfig(
        id="cluster-prod",
        type="kubernetes",
        connection={"server": kubernetes_fake.api.base_url, "ca_file": kubernetes_fake.ca_file},
        secret=secret,
        templates=["namespace-role", "namespace-view", "cluster-role-group"],
    )
    return KubernetesIntegration(config, resolver, templates)


@pytest.fixture
def kubernetes(
    kubernetes_fake: KubernetesFake,
    resolver: SecretResolver,
    cloud_templates: TemplateSet,
    connector_token_ref: str,
) -> KubernetesIntegration:
    return _integration(kubernetes_fake, resolver, cloud_templates, connector_token_ref)


async def test_role_binding_is_created_then_deleted_twice(
    kubernetes: KubernetesIntegration, kubernetes_fake: KubernetesFake, cloud_templates: TemplateSet
) -> None:
    api = kubernetes_fake.api
    role = unique("pod-reader")
    api.put("roles", {"metadata": {"name": role, "namespace": "payments"}, "rules": []})
    access = access_for(
        cloud_templates, "kubernetes", "namespace-role", {"namespace": "payments", "role": role}
    )
    name = f"latchkey-{access.grant_id}"

    for _ in range(2):
        await kubernetes.grant(access)
        binding = api.get("rolebindings", "payments", name)
        assert binding is not None
        await kubernetes.grant(access)  # already granted: no write at all
        again = api.get("rolebindings", "payments", name)
        assert (
            again is not None
            and again["metadata"]["resourceVersion"] == binding["metadata"]["resourceVersion"]
        )
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role}
        assert binding["subjects"] == [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice@example.com"}
        ]
        assert binding["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "latchkey"

        await kubernetes.revoke(access)
        await kubernetes.revoke(access)  # already revoked (404) = success
        assert api.get("rolebindings", "payments", name) is None


async def test_cluster_role_binding_for_a_group_twice(
    kubernetes: KubernetesIntegration, kubernetes_fake: KubernetesFake, cloud_templates: TemplateSet
) -> None:
    api = kubernetes_fake.api
    api.put("clusterroles", {"metadata": {"name": "cluster-admin"}, "rules": []})
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
        binding = api.get("clusterrolebindings", "", name)
        assert binding is not None
        assert binding["subjects"][0]["kind"] == "Group" and binding["subjects"][0]["name"] == "sre-oncall"
        await kubernetes.revoke(access)
        await kubernetes.revoke(access)
        assert name not in api.names("clusterrolebindings")


async def test_binding_not_managed_by_latchkey_is_never_touched(
    kubernetes: KubernetesIntegration, kubernetes_fake: KubernetesFake, cloud_templates: TemplateSet
) -> None:
    access = access_for(cloud_templates, "kubernetes", "namespace-view", {"namespace": "payments"})
    name = f"latchkey-{access.grant_id}"
    kubernetes_fake.api.put(
        "rolebindings",
        {
            "metadata": {"name": name, "namespace": "payments"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [],
        },
    )
    with pytest.raises(IntegrationError, match="not managed by Latchkey"):
        await kubernetes.grant(access)
    with pytest.raises(IntegrationError, match="not managed by Latchkey"):
        await kubernetes.revoke(access)
    assert kubernetes_fake.api.get("rolebindings", "payments", name) is not None


async def test_binding_in_a_missing_namespace_fails_with_the_api_reason(
    kubernetes: KubernetesIntegration, cloud_templates: TemplateSet
) -> None:
    access = access_for(cloud_templates, "kubernetes", "namespace-view", {"namespace": "no-such-namespace"})
    with pytest.raises(IntegrationError, match="404"):
        await kubernetes.grant(access)


async def test_wrong_token_is_refused_and_not_echoed(
    kubernetes_fake: KubernetesFake,
    resolver: SecretResolver,
    cloud_templates: TemplateSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LATCHKEY_TEST_KUBE_TOKEN", "wrong-token-value")
    integration = _integration(kubernetes_fake, resolver, cloud_templates, "env://LATCHKEY_TEST_KUBE_TOKEN")
    access = access_for(cloud_templates, "kubernetes", "namespace-view", {"namespace": "payments"})
    with pytest.raises(IntegrationError) as caught:
        await integration.grant(access)
    assert "401" in str(caught.value)
    assert "wrong-token-value" not in str(caught.value)


async def test_inventory_lists_namespaces_and_roles(
    kubernetes: KubernetesIntegration, kubernetes_fake: KubernetesFake
) -> None:
    role = unique("deployer")
    kubernetes_fake.api.put("roles", {"metadata": {"name": role, "namespace": "default"}, "rules": []})
    items = {(i.resource_type, i.name) for i in await kubernetes.sync_inventory()}
    assert ("kubernetes.namespace", "payments") in items
    assert ("kubernetes.role", f"default/{role}") in items
