"""The file provider end to end: real PostgreSQL, real Kafka, only differences published."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from latchkey.contracts.identity import GroupUpserted, UserUpserted
from latchkey.identity_sync.providers.file import FileProvider
from latchkey.identity_sync.testing.harness import Harness, by_type

pytestmark = pytest.mark.infra

EXAMPLE = Path(__file__).parents[3] / "examples" / "identity" / "directory.yaml"


async def test_demo_directory_full_sync_publishes_users_and_flattened_groups(
    harness: Harness, tmp_path: Path
) -> None:
    published = await harness.sync(FileProvider(EXAMPLE))

    assert by_type(published) == {
        "identity.user.upserted": ["u-alice", "u-bob", "u-carol", "u-dave", "u-erin"],
        "identity.group.upserted": ["g-db-admins", "g-engineering"],
    }
    users = {p.key: p.event for p in published if isinstance(p.event, UserUpserted)}
    assert users["u-alice"].manager_id == "u-carol"
    assert users["u-erin"].active is False
    groups = {p.key: p.event for p in published if isinstance(p.event, GroupUpserted)}
    # db-admins is nested in engineering: its members are engineering's members too
    assert groups["g-engineering"].member_ids == ["u-alice", "u-bob", "u-carol", "u-dave"]
    assert groups["g-db-admins"].name == "db-admins"

    assert await harness.sync(FileProvider(EXAMPLE)) == []


async def test_nested_group_change_republishes_the_parent(harness: Harness, tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    directory = yaml.safe_load(EXAMPLE.read_text())
    path.write_text(yaml.safe_dump(directory))
    await harness.sync(FileProvider(path))

    directory["groups"][1]["members"].append("u-erin")  # db-admins gains erin
    path.write_text(yaml.safe_dump(directory))
    published = await harness.sync(FileProvider(path))

    assert by_type(published) == {"identity.group.upserted": ["g-db-admins", "g-engineering"]}
    assert all("u-erin" in p.event.member_ids for p in published if isinstance(p.event, GroupUpserted))
