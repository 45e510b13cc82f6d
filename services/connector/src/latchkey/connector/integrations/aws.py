"""`aws`: IAM policies on users and roles, IAM Identity Center account assignments, session revocation.

connection:
    region: eu-west-1
    endpoint_url: http://127.0.0.1:5000        # optional (an emulator); else AWS's own endpoints
    identity_center_instance_arn: arn:aws:sso:::instance/ssoins-...   # optional default for assignments
secret: optional reference to a JSON object {"aws_access_key_id", "aws_secret_access_key",
    "aws_session_token"?}; without it boto3's default chain is used (IRSA, instance profile): the
    recommended setup, as then no long-lived key exists at all.

Template operations (each a mapping with `op`; string values may use `{parameter}` placeholders and the
built-ins `{resource}`, `{user_id}`, `{email}`, `{grant_id}`):

    attach_managed_policy / detach_managed_policy:  principal_type (user|role), principal_name, policy_arn
    put_inline_policy:     principal_type, principal_name, policy_name, document (an IAM policy mapping)
    delete_inline_policy:  principal_type, principal_name, policy_name
    create_account_assignment / delete_account_assignment:
                           permission_set_arn, account_id, principal_type (USER|GROUP), principal_id,
                           instance_arn (optional, defaults to connection.identity_center_instance_arn)
    revoke_older_sessions: principal_type, principal_name — AWS's documented "revoke active sessions"
                           pattern: an inline deny-all policy conditioned on aws:TokenIssueTime < now,
                           so credentials issued before the revoke stop working while new ones do not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
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
    from latchkey.connector.templates import Template

REVOKE_SESSIONS_POLICY = "LatchkeyRevokeOlderSessions"
_RETRYABLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "ServiceFailure",
    "InternalFailure",
    "RequestLimitExceeded",
}
_GONE_CODES = {"NoSuchEntity", "ResourceNotFoundException"}


_F = frozenset
_PRINCIPAL = _F({"principal_type", "principal_name"})
_ASSIGNMENT = _F({"permission_set_arn", "account_id", "principal_type", "principal_id"})
SHAPES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "attach_managed_policy": (_PRINCIPAL | {"policy_arn"}, _F()),
    "detach_managed_policy": (_PRINCIPAL | {"policy_arn"}, _F()),
    "put_inline_policy": (_PRINCIPAL | {"policy_name", "document"}, _F()),
    "delete_inline_policy": (_PRINCIPAL | {"policy_name"}, _F()),
    "create_account_assignment": (_ASSIGNMENT, _F({"instance_arn"})),
    "delete_account_assignment": (_ASSIGNMENT, _F({"instance_arn"})),
    "revoke_older_sessions": (_PRINCIPAL, _F()),
}


def revoke_sessions_document(now: datetime) -> dict[str, Any]:
    """AWS's documented revoke-sessions policy: deny everything to credentials issued before `now`."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Action": ["*"],
                "Resource": ["*"],
                "Condition": {"DateLessThan": {"aws:TokenIssueTime": now.strftime("%Y-%m-%dT%H:%M:%SZ")}},
            }
        ],
    }


class _AwsSession:
    """boto3 clients built for one command from credentials fetched for that command, then dropped."""

    def __init__(self, connection: Mapping[str, Any], credentials: Mapping[str, str] | None) -> None:
        import boto3

        kwargs: dict[str, Any] = {"region_name": connection.get("region") or "us-east-1"}
        if credentials is not None:
            kwargs.update(
                aws_access_key_id=credentials["aws_access_key_id"],
                aws_secret_access_key=credentials["aws_secret_access_key"],
                aws_session_token=credentials.get("aws_session_token"),
            )
        self._session = boto3.session.Session(**kwargs)
        self._endpoint = connection.get("endpoint_url")
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            # Bounded well inside the connector's command timeout (60 s by default): a call the
            # command gave up on keeps running in its thread, and must end before long (base.BLOCKING).
            bounded = Config(
                connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 2}
            )
            self._clients[service] = self._session.client(
                service, endpoint_url=self._endpoint, config=bounded
            )
        return self._clients[service]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


@register
class AwsIntegration(OperationsIntegration):
    type: ClassVar[str] = "aws"
    connection_keys: ClassVar[frozenset[str]] = frozenset(
        {"region", "endpoint_url", "identity_center_instance_arn"}
    )

    @classmethod
    def validate_operations(cls, template: Template) -> None:
        for operation in check_operations(template, SHAPES):
            principal_type = operation.get("principal_type")
            if operation["op"].endswith("account_assignment"):
                if principal_type not in ("USER", "GROUP"):
                    raise ValueError(f"{operation['op']}: principal_type must be USER or GROUP")
            elif principal_type not in ("user", "role"):
                raise ValueError(f"{operation['op']}: principal_type must be user or role")
            if operation["op"] == "put_inline_policy" and not isinstance(operation["document"], Mapping):
                raise ValueError("put_inline_policy: document must be an IAM policy mapping")

    # -- the interface -----------------------------------------------------------------------------------
    async def sync_inventory(self) -> list[InventoryItem]:
        session = await self._session()
        try:
            return await asyncio.to_thread(self._inventory, session)
        finally:
            await asyncio.to_thread(session.close)

    # -- plumbing ----------------------------------------------------------------------------------------
    async def _session(self) -> _AwsSession:
        credentials: dict[str, str] | None = None
        if self.config.secret:
            secret = await self.secrets.fetch(self.config.secret)
            try:
                parsed = json.loads(secret.reveal())
                credentials = {k: str(parsed[k]) for k in ("aws_access_key_id", "aws_secret_access_key")}
                if parsed.get("aws_session_token"):
                    credentials["aws_session_token"] = str(parsed["aws_session_token"])
            except (ValueError, KeyError, TypeError):
                raise IntegrationError(
                    f"secret {self.config.secret} must be a JSON object with aws_access_key_id and "
                    "aws_secret_access_key"
                ) from None
            del secret
        return _AwsSession(self.config.connection, credentials)

    async def _run(self, access: AccessSpec, operations: list[dict[str, Any]]) -> None:
        if not operations:
            return
        with before_changes():
            values = access_values(access)
            filled = [fill_placeholders(dict(operation), values) for operation in operations]
            session = await self._session()
        # One call in a thread: boto3 blocks. The session is closed there too, after the last
        # operation, even when the command timed out while it ran.
        await BLOCKING.run(access.grant_id, self._apply_all, session, filled)

    def _apply_all(self, session: _AwsSession, operations: list[dict[str, Any]]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            for index, operation in enumerate(operations):
                try:
                    self._apply(session, operation)
                except ClientError as exc:
                    error = exc.response.get("Error", {})
                    code = str(error.get("Code", "ClientError"))
                    if code in _GONE_CODES and operation["op"].startswith(("detach", "delete", "revoke")):
                        continue  # already revoked, or the principal itself is gone
                    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                    raise refused_first(
                        index,
                        IntegrationError(
                            f"aws {operation['op']} failed: {code}: {error.get('Message', '')}",
                            retryable=code in _RETRYABLE_CODES or status >= 500,
                        ),
                    ) from None
                except BotoCoreError as exc:
                    raise IntegrationError(
                        f"aws {operation['op']} failed: {type(exc).__name__}", retryable=True
                    ) from None
                except IntegrationError as exc:
                    raise refused_first(index, exc) from None
        finally:
            session.close()

    def _apply(self, session: _AwsSession, operation: dict[str, Any]) -> None:
        op = operation["op"]
        if op.endswith("account_assignment"):
            self._account_assignment(session, operation, create=op.startswith("create"))
            return
        iam = session.client("iam")
        kind = operation["principal_type"]  # user | role
        target = {"UserName" if kind == "user" else "RoleName": operation["principal_name"]}
        if op == "attach_managed_policy":
            # AttachRolePolicy/AttachUserPolicy are idempotent: attaching twice leaves one attachment.
            getattr(iam, f"attach_{kind}_policy")(PolicyArn=operation["policy_arn"], **target)
        elif op == "detach_managed_policy":
            getattr(iam, f"detach_{kind}_policy")(PolicyArn=operation["policy_arn"], **target)
        elif op == "put_inline_policy":
            getattr(iam, f"put_{kind}_policy")(
                PolicyName=operation["policy_name"],
                PolicyDocument=json.dumps(operation["document"]),
                **target,
            )
        elif op == "delete_inline_policy":
            getattr(iam, f"delete_{kind}_policy")(PolicyName=operation["policy_name"], **target)
        elif op == "revoke_older_sessions":
            document = revoke_sessions_document(datetime.now(UTC))
            getattr(iam, f"put_{kind}_policy")(
                PolicyName=REVOKE_SESSIONS_POLICY, PolicyDocument=json.dumps(document), **target
            )
        else:  # validate_operations makes this unreachable
            raise IntegrationError(f"aws: unknown op {op!r}")

    def _account_assignment(self, session: _AwsSession, operation: dict[str, Any], *, create: bool) -> None:
        from botocore.exceptions import ClientError

        sso = session.client("sso-admin")
        instance_arn = operation.get("instance_arn") or self.config.connection.get(
            "identity_center_instance_arn"
        )
        if not instance_arn:
            raise IntegrationError(
                "aws: no instance_arn in the operation or connection.identity_center_instance_arn"
            )
        assignment = {
            "InstanceArn": instance_arn,
            "TargetId": operation["account_id"],
            "TargetType": "AWS_ACCOUNT",
            "PermissionSetArn": operation["permission_set_arn"],
            "PrincipalType": operation["principal_type"],
            "PrincipalId": operation["principal_id"],
        }
        exists = self._assignment_exists(sso, assignment)
        if exists == create:
            return  # already granted / already revoked
        if create:
            status = sso.create_account_assignment(**assignment)["AccountAssignmentCreationStatus"]
            kind = "creation"
        else:
            status = sso.delete_account_assignment(**assignment)["AccountAssignmentDeletionStatus"]
            kind = "deletion"
        # The request went through: whatever fails while it is provisioned, it may have taken effect.
        try:
            self._await_assignment(sso, instance_arn, status, kind)
        except IntegrationError as exc:
            raise IntegrationError(str(exc), retryable=exc.retryable, after_change=True) from None
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
            raise IntegrationError(
                f"aws: account assignment {kind} requested, then its status could not be read: {code}",
                retryable=code in _RETRYABLE_CODES,
                after_change=True,
            ) from None

    @staticmethod
    def _assignment_exists(sso: Any, assignment: dict[str, str]) -> bool:
        paginator = sso.get_paginator("list_account_assignments")
        pages = paginator.paginate(
            InstanceArn=assignment["InstanceArn"],
            AccountId=assignment["TargetId"],
            PermissionSetArn=assignment["PermissionSetArn"],
        )
        return any(
            item["PrincipalType"] == assignment["PrincipalType"]
            and item["PrincipalId"] == assignment["PrincipalId"]
            for page in pages
            for item in page.get("AccountAssignments", [])
        )

    @staticmethod
    def _await_assignment(sso: Any, instance_arn: str, status: dict[str, Any], kind: str) -> None:
        # Identity Center provisions asynchronously; the command is applied only once the request succeeded.
        deadline = time.monotonic() + 60
        while status.get("Status", "SUCCEEDED") == "IN_PROGRESS":
            if time.monotonic() > deadline:
                raise IntegrationError(
                    f"aws: account assignment {kind} still in progress after 60 s", retryable=True
                )
            time.sleep(1)
            describe = getattr(sso, f"describe_account_assignment_{kind}_status")
            status = describe(
                InstanceArn=instance_arn, **{f"AccountAssignment{kind.title()}RequestId": status["RequestId"]}
            )[f"AccountAssignment{kind.title()}Status"]
        if status.get("Status") == "FAILED":
            raise IntegrationError(
                f"aws: account assignment {kind} failed: {status.get('FailureReason', '')}"
            )

    def _inventory(self, session: _AwsSession) -> list[InventoryItem]:
        from botocore.exceptions import ClientError

        permissions = [t.name for t in self.templates.for_type(self.type) if t.name in self.config.templates]
        items: list[InventoryItem] = []
        iam = session.client("iam")
        for page in iam.get_paginator("list_roles").paginate():
            for role in page["Roles"]:
                items.append(
                    InventoryItem(
                        role["Arn"], "aws.iam.role", role["RoleName"], permissions, tags=_tags(role)
                    )
                )
        for page in iam.get_paginator("list_users").paginate():
            for user in page["Users"]:
                items.append(
                    InventoryItem(
                        user["Arn"], "aws.iam.user", user["UserName"], permissions, tags=_tags(user)
                    )
                )
        instance_arn = self.config.connection.get("identity_center_instance_arn")
        if instance_arn:
            sso = session.client("sso-admin")
            for page in sso.get_paginator("list_permission_sets").paginate(InstanceArn=instance_arn):
                for arn in page.get("PermissionSets", []):
                    described = sso.describe_permission_set(InstanceArn=instance_arn, PermissionSetArn=arn)
                    name = described["PermissionSet"].get("Name", arn)
                    items.append(InventoryItem(arn, "aws.sso.permission_set", name, permissions))
        try:
            organizations = session.client("organizations")
            for page in organizations.get_paginator("list_accounts").paginate():
                for account in page["Accounts"]:
                    items.append(
                        InventoryItem(
                            account["Id"], "aws.account", account.get("Name", account["Id"]), permissions
                        )
                    )
        except ClientError as exc:
            # Not in an organization, or not allowed to list it: accounts are then simply not inventoried.
            if exc.response.get("Error", {}).get("Code") not in (
                "AWSOrganizationsNotInUseException",
                "AccessDeniedException",
            ):
                raise IntegrationError(
                    f"aws list_accounts failed: {exc.response['Error'].get('Code')}"
                ) from None
        return items


def _tags(entity: Mapping[str, Any]) -> dict[str, str]:
    return {str(t["Key"]): str(t["Value"]) for t in entity.get("Tags", [])}
