"""Inventory diffs: what to (re)publish and what to tombstone, given what the topic already holds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from ..integrations.base import InventoryItem


def fingerprint(item: InventoryItem) -> str:
    """Stable digest of what is published about a resource, to skip republishing unchanged ones."""
    data = asdict(item)
    data["permissions"] = sorted(item.permissions)
    data["owner_ids"] = sorted(item.owner_ids)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class InventoryDiff:
    changed: list[InventoryItem]
    removed: list[str]


def diff_inventory(published: dict[str, str], found: list[InventoryItem]) -> InventoryDiff:
    """`published` maps resource_id → fingerprint of what the topic holds for this integration."""
    current = {item.resource_id: item for item in found}
    changed = [item for rid, item in current.items() if published.get(rid) != fingerprint(item)]
    removed = sorted(set(published) - set(current))
    return InventoryDiff(changed=changed, removed=removed)
