"""AWS integration against moto server through boto3: real IAM / Identity Center state is asserted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from latchkey.connector.config import IntegrationConfig
from latchkey.connector.integrations.aws import REVOKE_SESSIONS_POLICY, AwsIntegration
from latchkey.connector.integrations.base import IntegrationError
from latchkey.connector.secrets import SecretResolver
from latchkey.connector.templates import TemplateSet, parse_template

from .conftest import MotoServer, access_for, unique

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)

READ_REPORTS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
    }
)


@pytest.fixture
def aws(moto_server: MotoServer, resolver: SecretResolver, cloud_templates: TemplateSet) -> AwsIntegration:
    sm: Any = moto_server.client("secretsmanager")
    name = unique("latchkey/aws-connector")
    # Credentials of the connector's own IAM user, fetched by the integration for every command.
    sm.create_secret(
        Name=name,
        SecretString=json.dumps({"aws_access_key_id": "AKIDTEST", "aws_secret_access_key": "s3cr3t"}),
    )
    sso: Any = moto_server.client("sso-admin")
    instance_arn = sso.list_instances()["Instances"][0]["InstanceArn"]
    config = IntegrationConfig(
        id="aws-main",
        type="aws",
        connection={
            "region": moto_server.region,
            "endpoint_url": moto_server.endpoint,
            "identity_center_instance_arn": instance_arn,
        },
        secret=f"aws-sm://{name}",
        templates=["iam-role-managed-policy", "iam-user-s3-read", "identity-center-assignment"],
    )
    return AwsIntegration(config, resolver, cloud_templates)


def _attached(iam: Any, role: str) -> list[str]:
    return [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]]


async def test_managed_policy_is_attached_then_detached_and_old_sessions_denied_twice(
    aws: AwsIntegration, moto_server: MotoServer, cloud_templates: TemplateSet
) -> None:
    iam: Any = moto_server.client("iam")
    role = unique("data-analyst")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    policy_arn = iam.create_policy(PolicyName=unique("reports-read"), PolicyDocument=READ_REPORTS)["Policy"][
        "Arn"
    ]
    access = access_for(
        cloud_templates, "aws", "iam-role-managed-policy", {"role": role, "policy_arn": policy_arn}
    )

    for _ in range(2):
        before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
        await aws.grant(access)
        await aws.grant(access)  # already granted = success, still one attachment
        assert _attached(iam, role) == [policy_arn]

        await aws.revoke(access)
        await aws.revoke(access)  # already revoked = success
        assert _attached(iam, role) == []
        deny = iam.get_role_policy(RoleName=role, PolicyName=REVOKE_SESSIONS_POLICY)["PolicyDocument"]
        statement = deny["Statement"][0]
        assert statement["Effect"] == "Deny" and statement["Action"] == ["*"]
        issued_before = datetime.strptime(
            statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"], "%Y-%m-%dT%H:%M:%SZ"
        ).replace(tzinfo=UTC)
        assert issued_before >= before


async def test_inline_policy_on_user_is_put_then_deleted_twice(
    aws: AwsIntegration, moto_server: MotoServer, cloud_templates: TemplateSet
) -> None:
    iam: Any = moto_server.client("iam")
    user = unique("alice")
    iam.create_user(UserName=user)
    access = access_for(
        cloud_templates, "aws", "iam-user-s3-read", {"user_name": user, "bucket": "acme-reports"}
    )
    policy_name = f"latchkey-{access.grant_id}"

    for _ in range(2):
        await aws.grant(access)
        await aws.grant(access)
        assert iam.list_user_policies(UserName=user)["PolicyNames"] == [policy_name]
        document = iam.get_user_policy(UserName=user, PolicyName=policy_name)["PolicyDocument"]
        assert document["Statement"][0]["Resource"] == [
            "arn:aws:s3:::acme-reports",
            "arn:aws:s3:::acme-reports/*",
        ]

        await aws.revoke(access)
        await aws.revoke(access)
        assert iam.list_user_policies(UserName=user)["PolicyNames"] == []


def _assignment(
    aws: AwsIntegration, moto_server: MotoServer, templates: TemplateSet, principal_id: str
) -> tuple[Any, Any]:
    """The access of an Identity Center assignment on a new permission set, and a function listing
    that permission set's assignments as (type, principal id)."""
    sso: Any = moto_server.client("sso-admin")
    instance_arn = aws.config.connection["identity_center_instance_arn"]
    permission_set_arn = sso.create_permission_set(Name=unique("ReadOnly"), InstanceArn=instance_arn)[
        "PermissionSet"
    ]["PermissionSetArn"]
    access = access_for(
        templates,
        "aws",
        "identity-center-assignment",
        {
            "account_id": "123456789012",
            "permission_set_arn": permission_set_arn,
            "principal_id": principal_id,
        },
    )

    def assignments() -> list[tuple[str, str]]:
        listed = sso.list_account_assignments(
            InstanceArn=instance_arn, AccountId="123456789012", PermissionSetArn=permission_set_arn
        )["AccountAssignments"]
        return [(a["PrincipalType"], a["PrincipalId"]) for a in listed]

    return access, assignments


async def test_identity_center_assignment_is_created_then_deleted_twice(
    aws: AwsIntegration, moto_server: MotoServer, cloud_templates: TemplateSet
) -> None:
    principal_id = "906755d6f8-1c2e1a5d-5f3b-4c6e-9d0a-2b8e6f4a1c33"
    access, assignments = _assignment(aws, moto_server, cloud_templates, principal_id)

    for _ in range(2):
        await aws.grant(access)
        await aws.grant(access)
        assert assignments() == [("USER", principal_id)]
        await aws.revoke(access)
        await aws.revoke(access)
        assert assignments() == []


async def test_an_assignment_whose_status_cannot_be_read_may_have_applied(
    aws: AwsIntegration,
    moto_server: MotoServer,
    cloud_templates: TemplateSet,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Identity Center took the request, then reading its status fails (the connector's role may not
    describe it): the grant may well be in place, so the failure must say so, and its revoke undoes it."""
    from botocore.exceptions import ClientError

    principal_id = "906755d6f8-7a1e0c2d-1b3c-4d5e-8f90-a1b2c3d4e5f6"
    access, assignments = _assignment(aws, moto_server, cloud_templates, principal_id)

    def status_denied(*args: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "DescribeStatus")

    monkeypatch.setattr(AwsIntegration, "_await_assignment", staticmethod(status_denied))
    with pytest.raises(IntegrationError) as caught:
        await aws.grant(access)
    assert "AccessDeniedException" in str(caught.value) and caught.value.may_have_applied is True
    assert assignments() == [("USER", principal_id)]  # it did take effect
    monkeypatch.undo()
    await aws.revoke(access)
    assert assignments() == []


async def test_inventory_lists_roles_users_permission_sets_and_accounts(
    aws: AwsIntegration, moto_server: MotoServer
) -> None:
    iam: Any = moto_server.client("iam")
    role, user = unique("inventory-role"), unique("inventory-user")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST, Tags=[{"Key": "team", "Value": "data"}])
    iam.create_user(UserName=user)
    sso: Any = moto_server.client("sso-admin")
    permission_set = unique("Inventory")
    sso.create_permission_set(
        Name=permission_set, InstanceArn=aws.config.connection["identity_center_instance_arn"]
    )
    organizations: Any = moto_server.client("organizations")
    try:
        organizations.create_organization(FeatureSet="ALL")
    except organizations.exceptions.AlreadyInOrganizationException:
        pass  # the emulator lives for the whole session
    created = organizations.create_account(AccountName="analytics", Email="aws-analytics@example.com")
    account_id = created["CreateAccountStatus"]["AccountId"]

    items = await aws.sync_inventory()
    by_name = {(i.resource_type, i.name): i for i in items}
    assert ("aws.iam.role", role) in by_name
    assert ("aws.iam.user", user) in by_name
    assert ("aws.sso.permission_set", permission_set) in by_name
    assert ("aws.account", "analytics") in by_name
    assert by_name[("aws.account", "analytics")].resource_id == account_id
    assert set(by_name[("aws.iam.role", role)].permissions) == set(aws.config.templates)


async def test_refusal_from_aws_is_reported_without_the_credentials(
    aws: AwsIntegration, cloud_templates: TemplateSet
) -> None:
    access = access_for(
        cloud_templates,
        "aws",
        "iam-role-managed-policy",
        {"role": "no-such-role", "policy_arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
    )
    with pytest.raises(IntegrationError) as caught:
        await aws.grant(access)
    assert "NoSuchEntity" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)
    assert caught.value.retryable is False
    assert caught.value.may_have_applied is False  # AWS refused the first change: nothing changed


TWO_POLICIES = """
apiVersion: latchkey/v1
kind: Template
name: two-policies
integration: aws
parameters:
  role: {type: string, pattern: "[A-Za-z0-9+=,.@_-]{1,64}"}
  first: {type: string, pattern: "arn:aws:iam::(aws|[0-9]{12}):policy/[A-Za-z0-9+=,.@_/-]{1,512}"}
  second: {type: string, pattern: "arn:aws:iam::(aws|[0-9]{12}):policy/[A-Za-z0-9+=,.@_/-]{1,512}"}
grant:
  - {op: attach_managed_policy, principal_type: role, principal_name: "{role}", policy_arn: "{first}"}
  - {op: attach_managed_policy, principal_type: role, principal_name: "{role}", policy_arn: "{second}"}
revoke:
  - {op: detach_managed_policy, principal_type: role, principal_name: "{role}", policy_arn: "{second}"}
  - {op: detach_managed_policy, principal_type: role, principal_name: "{role}", policy_arn: "{first}"}
"""


async def test_a_grant_whose_second_operation_fails_says_it_may_have_applied_and_its_revoke_undoes_it(
    aws: AwsIntegration, moto_server: MotoServer, cloud_templates: TemplateSet
) -> None:
    """The first policy is attached before AWS refuses the second: the failure says the target may
    have changed (so flow-engine revokes the grant), and the revoke detaches what was attached."""
    iam: Any = moto_server.client("iam")
    role = unique("data-analyst")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST)
    first = iam.create_policy(PolicyName=unique("reports-read"), PolicyDocument=READ_REPORTS)["Policy"]["Arn"]
    missing = first.rsplit("/", 1)[0] + "/" + unique("never-created")
    template = parse_template(TWO_POLICIES, "two-policies.yaml")
    AwsIntegration.validate_operations(template)
    access = access_for(
        TemplateSet({("aws", template.name): template}),
        "aws",
        "two-policies",
        {"role": role, "first": first, "second": missing},
    )
    with pytest.raises(IntegrationError) as caught:
        await aws.grant(access)
    assert "NoSuchEntity" in str(caught.value) and caught.value.may_have_applied is True
    assert _attached(iam, role) == [first]  # left behind by the failed grant
    await aws.revoke(access)
    assert _attached(iam, role) == []
