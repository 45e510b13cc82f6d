"""The template operations the cloud integrations share (aws, azure, gcp, kubernetes): `{placeholder}`
substitution and the check of a template's grant/revoke/rotate operations against an integration's op
shapes. A template names operations with `op` and fields; string values may use `{parameter}`
placeholders and the built-ins `{resource}`, `{user_id}`, `{email}`, `{grant_id}`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .base import AccessSpec, IntegrationError

if TYPE_CHECKING:
    from latchkey.connector.templates import Template

# Placeholders are `{name}` with a lowercase identifier; IAM's own `${aws:username}` variables never match.
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
BUILTIN_PLACEHOLDERS = frozenset({"resource", "user_id", "email", "grant_id"})


def placeholders_in(value: Any) -> set[str]:
    """Every `{name}` used anywhere in an operation value (strings inside mappings and lists too)."""
    if isinstance(value, str):
        return set(_PLACEHOLDER.findall(value))
    if isinstance(value, Mapping):
        return set().union(*(placeholders_in(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(placeholders_in(v) for v in value)) if value else set()
    return set()


def fill_placeholders(value: Any, values: Mapping[str, str]) -> Any:
    """`value` with each `{name}` replaced by `values[name]`. Values are inserted as data, never re-parsed."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise IntegrationError(f"template placeholder {{{name}}} has no value for this command")
            return values[name]

        return _PLACEHOLDER.sub(one, value)
    if isinstance(value, Mapping):
        return {k: fill_placeholders(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(v, values) for v in value]
    return value


def access_values(access: AccessSpec) -> dict[str, str]:
    """The placeholder values of one command: the template's bound parameters and the built-ins."""
    values = dict(access.parameters)
    values.update(resource=access.resource, user_id=access.principal.user_id, grant_id=access.grant_id)
    if access.principal.email:
        values["email"] = access.principal.email
    return values


def check_operations(
    template: Template, shapes: Mapping[str, tuple[frozenset[str], frozenset[str]]]
) -> list[dict[str, Any]]:
    """Validate grant/revoke/rotate ops against `shapes` (op → (required fields, optional fields)).

    Raises ValueError naming the operation and the problem; returns all operations for extra checks.
    """
    known = set(template.parameters) | BUILTIN_PLACEHOLDERS
    checked: list[dict[str, Any]] = []
    for phase in ("grant", "revoke", "rotate"):
        for index, operation in enumerate(getattr(template, phase)):
            where = f"{phase}[{index}]"
            if not isinstance(operation, Mapping) or "op" not in operation:
                raise ValueError(f"{where}: an operation is a mapping with `op` (one of {sorted(shapes)})")
            op = operation["op"]
            if op not in shapes:
                raise ValueError(
                    f"{where}: unknown op {op!r} for {template.integration}; known: {sorted(shapes)}"
                )
            required, optional = shapes[op]
            fields = set(operation) - {"op"}
            missing, extra = required - fields, fields - required - optional
            if missing:
                raise ValueError(f"{where} ({op}): missing {sorted(missing)}")
            if extra:
                raise ValueError(f"{where} ({op}): unknown field(s) {sorted(extra)}")
            unknown = placeholders_in(dict(operation)) - known
            if unknown:
                raise ValueError(
                    f"{where} ({op}): placeholder(s) {sorted(unknown)} are neither template parameters "
                    f"nor built-ins {sorted(BUILTIN_PLACEHOLDERS)}"
                )
            checked.append(dict(operation))
    return checked
