"""GCP IAM integration against the Resource Manager fake, authenticated by a service-account key that the
connector fetches from (fake) Secret Manager and exchanges at the key's token_uri, as google-auth does."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from latchkey.connector.config import IntegrationConfig
from latchkey.connector.integrations.base import IntegrationError
from latchkey.connector.integrations.gcp import GcpIntegration
from latchkey.connector.secrets import SecretResolver
from latchkey.connector.templates import TemplateSet

from .conftest import access_for, unique
from .fakes.gcp_iam import FakeCloudResourceManager
from .fakes.gcp_secret_manager import FakeSecretManager


@pytest.fixture(scope="module")
def resource_manager() -> Iterator[FakeCloudResourceManager]:
    fake = FakeCloudResourceManager()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def service_account_ref(
    resource_manager: FakeCloudResourceManager, gcp_secret_manager: FakeSecretManager
) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": "acme-admin",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "latchkey@acme-admin.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": f"{resource_manager.base_url}/token",
    }
    version = gcp_secret_manager.add_version(
        "projects/acme-admin/secrets/latchkey-sa", json.dumps(info).encode()
    )
    return f"gcp-sm://{version}"


@pytest.fixture
def gcp(
    resource_manager: FakeCloudResourceManager,
    service_account_ref: str,
    resolver: SecretResolver,
    cloud_templates: TemplateSet,
) -> GcpIntegration:
    config = IntegrationConfig(
        id="gcp-main",
        type="gcp",
        connection={"crm_url": resource_manager.base_url, "projects": []},
        secret=service_account_ref,
        templates=["project-role", "project-viewer-group"],
    )
    return GcpIntegration(config, resolver, cloud_templates)


async def test_project_role_binding_is_added_then_removed_twice(
    gcp: GcpIntegration, resource_manager: FakeCloudResourceManager, cloud_templates: TemplateSet
) -> None:
    project = unique("acme-prod")
    resource_manager.add_project(project, [{"role": "roles/owner", "members": ["user:root@example.com"]}])
    access = access_for(cloud_templates, "gcp", "project-role", {"project": project, "role": "roles/viewer"})

    for _ in range(2):
        await gcp.grant(access)
        writes = resource_manager.set_calls
        await gcp.grant(access)  # already granted: read, no write
        assert resource_manager.set_calls == writes
        assert resource_manager.members(project, "roles/viewer") == ["user:alice@example.com"]

        await gcp.revoke(access)
        await gcp.revoke(access)
        assert resource_manager.members(project, "roles/viewer") == []
        assert resource_manager.members(project, "roles/owner") == ["user:root@example.com"]


async def test_concurrent_policy_change_is_retried_and_not_lost(
    gcp: GcpIntegration, resource_manager: FakeCloudResourceManager, cloud_templates: TemplateSet
) -> None:
    project = unique("acme-data")
    resource_manager.add_project(project)
    access = access_for(
        cloud_templates, "gcp", "project-viewer-group", {"project": project, "group": "sre@example.com"}
    )
    resource_manager.race_next = 2  # two other writers sneak in between our read and our write
    writes = resource_manager.set_calls

    await gcp.grant(access)

    assert resource_manager.set_calls - writes == 3  # two refused with 409 ABORTED, the third applied
    assert resource_manager.members(project, "roles/viewer") == ["group:sre@example.com"]
    assert resource_manager.members(project, "roles/logging.viewer") == ["user:racer@example.com"]


async def test_unknown_project_fails_with_googles_reason(
    gcp: GcpIntegration, cloud_templates: TemplateSet
) -> None:
    access = access_for(
        cloud_templates, "gcp", "project-role", {"project": "no-such-project", "role": "roles/viewer"}
    )
    with pytest.raises(IntegrationError, match="403 PERMISSION_DENIED"):
        await gcp.grant(access)


async def test_inventory_lists_configured_projects_with_owners(
    gcp: GcpIntegration, resource_manager: FakeCloudResourceManager
) -> None:
    project = unique("acme-inv")
    resource_manager.add_project(project, [{"role": "roles/owner", "members": ["user:root@example.com"]}])
    integration = GcpIntegration(
        gcp.config.model_copy(update={"connection": {**gcp.config.connection, "projects": [project]}}),
        gcp.secrets,
        gcp.templates,
    )
    (item,) = await integration.sync_inventory()
    assert (item.resource_type, item.name, item.owner_ids) == (
        "gcp.project",
        project,
        ["user:root@example.com"],
    )
