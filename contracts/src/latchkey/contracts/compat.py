"""Detects breaking changes between a committed JSON Schema snapshot and the current model.

Additive changes (a new optional field, a looser constraint) keep `schema_version`; anything that
could make an old consumer or producer fail (a removed field, a changed type, a new required field,
a tighter constraint, a narrowed enum) needs a version bump and a new topic suffix.
"""

from __future__ import annotations

from typing import Any

_UPPER_BOUNDS = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
_LOWER_BOUNDS = ("minLength", "minimum", "exclusiveMinimum", "minItems")


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return _resolve(root["$defs"][ref.removeprefix("#/$defs/")], root)
    return schema


def _types(schema: dict[str, Any], root: dict[str, Any]) -> set[str]:
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        out: set[str] = set()
        for option in schema["anyOf"]:
            out |= _types(option, root)
        return out
    if "const" in schema:
        return {f"const:{schema['const']}"}
    kind = schema.get("type")
    if isinstance(kind, list):
        return set(kind)
    if kind:
        return {f"{kind}:{schema.get('format', '')}"}
    if "properties" in schema:
        return {"object:"}
    return {"any"}


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    """Every way `new` would break a reader or writer of `old`; empty when compatible."""
    problems: list[str] = []
    _compare(_resolve(old, old), _resolve(new, new), old, new, path or "$", problems)
    return problems


def _compare(
    old: dict[str, Any],
    new: dict[str, Any],
    old_root: dict[str, Any],
    new_root: dict[str, Any],
    path: str,
    problems: list[str],
) -> None:
    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if "any" not in new_types and not old_types <= new_types:
        problems.append(f"{path}: type changed from {sorted(old_types)} to {sorted(new_types)}")
        return
    for bound in _UPPER_BOUNDS:
        if bound in new and (bound not in old or new[bound] < old[bound]):
            problems.append(f"{path}: {bound} tightened to {new[bound]} (was {old.get(bound, 'unbounded')})")
    for bound in _LOWER_BOUNDS:
        if bound in new and (bound not in old or new[bound] > old[bound]):
            problems.append(f"{path}: {bound} tightened to {new[bound]} (was {old.get(bound, 'unbounded')})")
    if "pattern" in new and new.get("pattern") != old.get("pattern"):
        problems.append(f"{path}: pattern changed to {new['pattern']!r}")
    if "enum" in new and not set(old.get("enum", [])) <= set(new["enum"]):
        problems.append(f"{path}: enum narrowed to {new['enum']}")
    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: field removed")
            continue
        new_prop = _resolve(new_props[name], new_root)
        _compare(_resolve(old_prop, old_root), new_prop, old_root, new_root, f"{path}.{name}", problems)
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        problems.append(f"{path}.{name}: field is now required")
