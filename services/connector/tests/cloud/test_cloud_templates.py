"""The shipped aws/kubernetes/gcp/azure templates load, and malformed operations are refused at load time."""

from __future__ import annotations

import pytest

from latchkey.connector.integrations import REGISTRY
from latchkey.connector.templates import ParameterInvalid, TemplateSet, parse_template


def test_every_shipped_cloud_template_validates(cloud_templates: TemplateSet) -> None:
    kinds = {t.integration for t in cloud_templates}
    assert kinds == {"aws", "kubernetes", "gcp", "azure"}
    assert len(cloud_templates) >= 10


def _template(kind: str, grant: str, parameters: str = "{role: {type: string}}") -> str:
    return f"""
apiVersion: latchkey/v1
kind: Template
name: broken
integration: {kind}
parameters: {parameters}
grant: [{grant}]
revoke: [{grant}]
"""


@pytest.mark.parametrize(
    ("kind", "grant", "problem"),
    [
        ("aws", "{op: attach_everything}", "unknown op 'attach_everything'"),
        (
            "aws",
            "{op: attach_managed_policy, principal_type: role, principal_name: x}",
            "missing \\['policy_arn'\\]",
        ),
        (
            "aws",
            "{op: detach_managed_policy, principal_type: group, principal_name: x, policy_arn: y}",
            "principal_type must be user or role",
        ),
        (
            "aws",
            "{op: revoke_older_sessions, principal_type: role, principal_name: '{rol}'}",
            "placeholder\\(s\\) \\['rol'\\]",
        ),
        (
            "kubernetes",
            "{op: bind_role, binding: ClusterRoleBinding, role_kind: Role, role_name: r, subject_kind: User, "
            "subject_name: u}",
            "can only reference a ClusterRole",
        ),
        (
            "kubernetes",
            "{op: bind_role, binding: RoleBinding, role_kind: Role, role_name: r, subject_kind: User, "
            "subject_name: u}",
            "needs a namespace",
        ),
        ("gcp", "{op: add_binding, project: p, role: owner, member: 'user:{email}'}", "role must be roles/"),
        ("gcp", "{op: add_binding, project: p, role: roles/viewer, member: alice}", "member must start with"),
        (
            "azure",
            "{op: assign_role, scope: subscriptions/x, role_definition_id: r, principal_id: p}",
            "scope is an ARM resource id",
        ),
        (
            "azure",
            "{op: assign_role, scope: /subscriptions/x, principal_id: p}",
            "missing \\['role_definition_id'\\]",
        ),
    ],
)
def test_malformed_operations_are_refused_when_templates_load(kind: str, grant: str, problem: str) -> None:
    template = parse_template(_template(kind, grant), f"{kind}/broken.yaml")
    with pytest.raises(ValueError, match=problem):
        REGISTRY[kind].validate_operations(template)


def test_injection_strings_never_pass_cloud_template_parameters(cloud_templates: TemplateSet) -> None:
    hostile = [
        "x; rm -rf /",
        "a/../../b",
        "${aws:username}",
        "{grant_id}",
        "role\nInjected",
        "' OR 1=1 --",
        "*",
    ]
    for template in cloud_templates:
        for name in template.parameters:
            for value in hostile:
                with pytest.raises(ParameterInvalid):
                    template.bind({name: value})
