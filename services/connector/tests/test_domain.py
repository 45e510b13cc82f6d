"""Pure connector logic: the replay memory and inventory diffs."""

from __future__ import annotations

import time

from latchkey.connector.domain.inventory import diff_inventory, fingerprint
from latchkey.connector.domain.replay import Executed, ExecutedCommands
from latchkey.connector.integrations.base import InventoryItem


def test_executed_commands_are_forgotten_after_the_window() -> None:
    memory = ExecutedCommands(window_seconds=0.2)
    memory.remember(Executed("c-1", "t:0:1", "applied"))
    memory.remember(Executed("c-old", "t:0:0", "applied"), age_seconds=5)  # older than the window
    assert memory.lookup("c-1") == Executed("c-1", "t:0:1", "applied")
    assert memory.lookup("c-old") is None
    time.sleep(0.25)
    assert memory.lookup("c-1") is None and len(memory) == 0


def test_inventory_diff_publishes_only_changes_and_removes_the_missing() -> None:
    orders = InventoryItem("table:db.s.orders", "table", "orders", ["readonly"], ["owner"])
    users = InventoryItem("table:db.s.users", "table", "users", ["readonly"], ["owner"])
    published = {orders.resource_id: fingerprint(orders), "table:db.s.gone": "x"}
    renamed_owner = InventoryItem("table:db.s.orders", "table", "orders", ["readonly"], ["new_owner"])
    diff = diff_inventory(published, [orders, users])
    assert [i.resource_id for i in diff.changed] == ["table:db.s.users"]
    assert diff.removed == ["table:db.s.gone"]
    assert [i.resource_id for i in diff_inventory(published, [renamed_owner]).changed] == [
        "table:db.s.orders"
    ]
    # Order of permissions/owners does not count as a change.
    shuffled = InventoryItem("table:db.s.orders", "table", "orders", ["readonly"], ["owner"])
    assert fingerprint(shuffled) == fingerprint(orders)
