"""The contracts pin what goes on the wire: every event round-trips, unknown fields are tolerated,
and a breaking change to a committed schema is caught."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from latchkey.contracts import (
    ALL_TOPICS,
    REQUESTS,
    RequestSubmitted,
    Topic,
    connector_commands,
    dead_letters,
    uuid7,
)
from latchkey.contracts.__main__ import compatibility_problems, current_schemas
from latchkey.contracts.compat import breaking_changes
from latchkey.contracts.samples import sample_events

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


@pytest.mark.parametrize("topic_name,event", sample_events(), ids=lambda v: getattr(v, "type", v))
def test_every_event_round_trips_through_json_unchanged(topic_name: str, event: object) -> None:
    topic = _topic(topic_name)
    wire = event.model_dump_json().encode()  # type: ignore[attr-defined]
    assert topic.parse(wire) == event


def test_every_event_type_has_a_sample() -> None:
    sampled = {event.type for _, event in sample_events()}
    declared = {
        cls.model_fields["type"].default
        for topic in (*ALL_TOPICS, connector_commands("c1"), dead_letters(ALL_TOPICS[0]))
        for cls in topic.event_types()
    }
    assert declared == sampled


def test_unknown_fields_from_newer_producers_are_ignored() -> None:
    event = RequestSubmitted(
        request_id="r1", id_token="t", integration_id="pg", resource="appdb", permission="readonly"
    )
    data = json.loads(event.model_dump_json())
    data["added_in_a_later_version"] = {"nested": True}
    assert REQUESTS.parse(json.dumps(data)) == event


def test_naive_timestamps_are_refused() -> None:
    data = json.loads(
        RequestSubmitted(
            request_id="r1", id_token="t", integration_id="pg", resource="db", permission="ro"
        ).model_dump_json()
    )
    data["occurred_at"] = "2026-01-01T00:00:00"
    with pytest.raises(ValidationError, match="timezone"):
        REQUESTS.parse(json.dumps(data))


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        REQUESTS.parse(b'{"type": "access.request.teleport", "request_id": "r"}')


def test_uuid7_is_time_ordered_and_version_7() -> None:
    ids = [uuid7() for _ in range(200)]
    assert all(i.version == 7 for i in ids)
    timestamps = [i.int >> 80 for i in ids]
    assert timestamps == sorted(timestamps)
    assert abs(timestamps[-1] / 1000 - datetime.now(UTC).timestamp()) < 5


def test_committed_schemas_match_the_models() -> None:
    assert SCHEMAS.exists(), "run `python -m latchkey.contracts schemas`"
    committed = {p.relative_to(SCHEMAS).as_posix() for p in SCHEMAS.rglob("*.json")}
    assert committed == set(current_schemas()), (
        "schemas out of date: run `python -m latchkey.contracts schemas`"
    )
    assert compatibility_problems(SCHEMAS) == []


def test_removed_field_is_a_breaking_change() -> None:
    old = current_schemas()["access.requests.v1/access.request.submitted.json"]
    new = copy.deepcopy(old)
    del new["properties"]["justification"]
    assert any("justification: field removed" in p for p in breaking_changes(old, new))


def test_changed_type_is_a_breaking_change() -> None:
    old = current_schemas()["access.requests.v1/access.request.submitted.json"]
    new = copy.deepcopy(old)
    new["properties"]["duration_seconds"] = {"type": "string"}
    assert any("duration_seconds: type changed" in p for p in breaking_changes(old, new))


def test_tightened_constraint_and_new_required_field_are_breaking() -> None:
    old = current_schemas()["access.requests.v1/access.request.submitted.json"]
    new = copy.deepcopy(old)
    new["properties"]["resource"]["maxLength"] = 10
    new["properties"]["ticket"] = {"type": "string"}
    new["required"] = [*new["required"], "ticket"]
    problems = breaking_changes(old, new)
    assert any("resource: maxLength tightened" in p for p in problems)
    assert any("ticket: field is now required" in p for p in problems)


def test_additive_optional_field_is_compatible() -> None:
    old = current_schemas()["access.requests.v1/access.request.submitted.json"]
    new = copy.deepcopy(old)
    new["properties"]["ticket"] = {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None}
    new["properties"]["resource"]["maxLength"] = 4096
    assert breaking_changes(old, new) == []


def test_signing_payload_is_canonical_and_excludes_the_signature() -> None:
    from latchkey.contracts import GrantCommand, Principal

    now = datetime(2026, 1, 1, tzinfo=UTC)
    cmd = GrantCommand(
        command_id="c",
        grant_id="g",
        connector_id="c1",
        integration_id="pg",
        issued_at=now,
        not_after=now + timedelta(minutes=5),
        template="readonly",
        resource="appdb",
        principal=Principal(user_id="u1"),
        expires_at=now + timedelta(hours=1),
    )
    signed = cmd.model_copy(update={"signature": "AAAA"})
    assert cmd.signing_payload() == signed.signing_payload()
    payload = json.loads(cmd.signing_payload())
    assert "signature" not in payload and list(payload) == sorted(payload)


def _topic(name: str) -> Topic:
    topics = (*ALL_TOPICS, connector_commands("c1"), *(dead_letters(t) for t in ALL_TOPICS))
    return next(t for t in topics if t.name == name)
