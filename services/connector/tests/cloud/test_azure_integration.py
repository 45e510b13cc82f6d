"""Azure RBAC integration through httpx against the ARM role-assignment fake."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from latchkey.connector.config import IntegrationConfig
from latchkey.connector.integrations.azure import AzureIntegration
from latchkey.connector.integrations.base import IntegrationError
from latchkey.connector.secrets import SecretResolver
from latchkey.connector.templates import TemplateSet

from .conftest import access_for
from .fakes.azure_arm import FakeAzureResourceManager, FakeEntraId
from .fakes.http_api import self_signed_tls
from .lowkey_vault import LowkeyVault

READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
ALICE = "2f1e6c0a-8d3b-4a57-9e21-6b0c4d7a9f13"  # Entra ID object id, as identity-sync reports it


@pytest.fixture(scope="module")
def arm() -> Iterator[FakeAzureResourceManager]:
    fake = FakeAzureResourceManager(token=secrets.token_hex(16))
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def azure(
    arm: FakeAzureResourceManager,
    key_vault: LowkeyVault,
    resolver: SecretResolver,
    cloud_templates: TemplateSet,
) -> AzureIntegration:
    # The ARM token is fetched from (fake) Key Vault for each command.
    name = f"latchkey-arm-{secrets.token_hex(4)}"
    key_vault.set_secret(name, json.dumps({"access_token": arm.token}))
    config = IntegrationConfig(
        id="azure-main",
        type="azure",
        connection={"arm_url": arm.base_url},
        secret=f"azure-kv://localhost/{name}",
        templates=["resource-group-role", "subscription-reader"],
    )
    return AzureIntegration(config, resolver, cloud_templates)


async def test_resource_group_role_is_assigned_then_removed_twice(
    azure: AzureIntegration, arm: FakeAzureResourceManager, cloud_templates: TemplateSet
) -> None:
    subscription = str(uuid.uuid4())
    scope = f"/subscriptions/{subscription}/resourceGroups/rg-payments"
    access = access_for(
        cloud_templates,
        "azure",
        "resource-group-role",
        {"subscription": subscription, "resource_group": "rg-payments", "role": READER},
        user_id=ALICE,
    )
    for _ in range(2):
        await azure.grant(access)
        await azure.grant(access)  # same deterministic name: ARM confirms, no duplicate
        (assignment,) = arm.at_scope(scope)
        assert assignment["properties"]["principalId"] == ALICE
        assert assignment["properties"]["roleDefinitionId"].endswith(f"/roleDefinitions/{READER}")

        await azure.revoke(access)
        await azure.revoke(access)  # ARM answers 204 for a missing assignment: already revoked
        assert arm.at_scope(scope) == []


async def test_existing_equivalent_assignment_counts_as_granted_and_is_not_removed(
    azure: AzureIntegration, arm: FakeAzureResourceManager, cloud_templates: TemplateSet
) -> None:
    subscription = str(uuid.uuid4())
    scope = f"/subscriptions/{subscription}"
    role_id = f"{scope}/providers/Microsoft.Authorization/roleDefinitions/{READER}"
    standing = str(uuid.uuid4())
    with arm.lock:
        arm.assignments[f"{scope}/providers/Microsoft.Authorization/roleAssignments/{standing}"] = {
            "id": f"{scope}/providers/Microsoft.Authorization/roleAssignments/{standing}",
            "name": standing,
            "properties": {
                "scope": scope,
                "roleDefinitionId": role_id,
                "principalId": ALICE,
                "principalType": "User",
            },
        }
    access = access_for(
        cloud_templates, "azure", "subscription-reader", {"subscription": subscription}, user_id=ALICE
    )

    await azure.grant(access)  # 409 RoleAssignmentExists = already granted
    await azure.revoke(access)  # removes only what this grant created: nothing
    assert [a["name"] for a in arm.at_scope(scope)] == [standing]


async def test_invalid_token_is_refused_with_arms_reason(
    azure: AzureIntegration,
    arm: FakeAzureResourceManager,
    cloud_templates: TemplateSet,
    key_vault: LowkeyVault,
) -> None:
    key_vault.set_secret("latchkey-arm-expired", json.dumps({"access_token": "expired-token"}))
    broken = AzureIntegration(
        azure.config.model_copy(update={"secret": "azure-kv://localhost/latchkey-arm-expired"}),
        azure.secrets,
        azure.templates,
    )
    access = access_for(cloud_templates, "azure", "subscription-reader", {"subscription": str(uuid.uuid4())})
    with pytest.raises(IntegrationError) as caught:
        await broken.grant(access)
    assert "401 InvalidAuthenticationToken" in str(caught.value)
    assert "expired-token" not in str(caught.value)


async def test_inventory_lists_subscription_groups_and_roles(
    azure: AzureIntegration, arm: FakeAzureResourceManager
) -> None:
    subscription = str(uuid.uuid4())
    arm.resource_groups[subscription] = ["rg-payments", "rg-data"]
    arm.role_definitions[READER] = "Reader"
    integration = AzureIntegration(
        azure.config.model_copy(
            update={"connection": {**azure.config.connection, "subscriptions": [subscription]}}
        ),
        azure.secrets,
        azure.templates,
    )
    items = {(i.resource_type, i.name) for i in await integration.sync_inventory()}
    assert items >= {
        ("azure.subscription", subscription),
        ("azure.resource_group", "rg-payments"),
        ("azure.resource_group", "rg-data"),
        ("azure.role_definition", "Reader"),
    }


async def test_client_secret_from_key_vault_is_exchanged_at_entra_id_for_the_arm_token(
    arm: FakeAzureResourceManager,
    key_vault: LowkeyVault,
    resolver: SecretResolver,
    cloud_templates: TemplateSet,
    tmp_path: Path,
) -> None:
    tls, ca_file = self_signed_tls(tmp_path)
    client_secret = secrets.token_urlsafe(24)
    entra = FakeEntraId(tls, client_id="latchkey-app", client_secret=client_secret, access_token=arm.token)
    entra.start()
    try:
        key_vault.set_secret("latchkey-arm-client", json.dumps({"client_secret": client_secret}))
        config = IntegrationConfig(
            id="azure-sp",
            type="azure",
            connection={
                "arm_url": arm.base_url,
                "tenant_id": "acme-tenant",
                "client_id": "latchkey-app",
                "authority_host": entra.base_url,
                "ca_file": ca_file,
            },
            secret="azure-kv://localhost/latchkey-arm-client",
            templates=["subscription-reader"],
        )
        integration = AzureIntegration(config, resolver, cloud_templates)
        subscription = str(uuid.uuid4())
        access = access_for(
            cloud_templates, "azure", "subscription-reader", {"subscription": subscription}, user_id=ALICE
        )
        await integration.grant(access)
        assert len(arm.at_scope(f"/subscriptions/{subscription}")) == 1
        assert any(r.path.endswith("/oauth2/v2.0/token") for r in entra.requests)
    finally:
        entra.stop()
