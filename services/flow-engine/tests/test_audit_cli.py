"""`latchkey-audit` without a running system: which records a window selects, what it prints, errors.
Against real stories on Kafka: tests/e2e/test_scenario.py (the lifecycle-topic test)."""

from __future__ import annotations

import csv
import io
import json
import socket
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from latchkey.contracts.audit import AccessRecord
from latchkey.flow_engine.audit_cli import Format, _moment, cli, render, select

DAY = datetime(2026, 11, 3, tzinfo=UTC)


def record(request_id: str, start_h: float, end_h: float | None, **fields: object) -> AccessRecord:
    r = AccessRecord(
        request_id,
        outcome="revoked" if end_h is not None else "active",
        requester_id="u-bob",
        requester_email="bob@example.com",
        integration_id="appdb",
        resource="schema:appdb.public",
        permission="readonly",
        requested_at=DAY + timedelta(hours=start_h),
        activated_at=DAY + timedelta(hours=start_h),
        ended_at=DAY + timedelta(hours=end_h) if end_h is not None else None,
    )
    for key, value in fields.items():
        setattr(r, key, value)
    return r


def ids(records: list[AccessRecord]) -> list[str]:
    return [r.request_id for r in records]


def test_a_window_selects_the_access_that_overlaps_it() -> None:
    records = [
        record("before", -30, -26),
        record("across-start", -2, 1),
        record("inside", 3, 4),
        record("across-end", 23, 25),
        record("after", 30, 31),
        record("still-held", -48, None),
    ]
    now = DAY + timedelta(days=5)
    chosen = select(records, since=DAY, until=DAY + timedelta(hours=24), now=now)
    assert ids(chosen) == ["across-start", "inside", "across-end", "still-held"]
    held = select(records, outcomes={"active", "revoking", "revoke_overdue"}, now=now)
    assert ids(held) == ["still-held"]


def test_requester_by_id_or_email_and_integration() -> None:
    records = [record("a", 1, 2), record("b", 1, 2, requester_id="u-eve", requester_email="eve@example.com")]
    assert ids(select(records, requester="bob@example.com")) == ["a"]
    assert ids(select(records, requester="u-eve")) == ["b"]
    assert ids(select(records, integration="other")) == []


def test_a_bare_until_date_covers_the_whole_day() -> None:
    until = _moment("2026-11-03", "--until", end_of_day=True)
    since = _moment("2026-11-03", "--since")
    assert since == DAY and until is not None and until.date() == DAY.date() and until.hour == 23
    assert _moment("2026-11-03T09:00+01:00", "--since") == DAY + timedelta(hours=8)


def test_json_and_csv_carry_every_field_and_the_table_reads() -> None:
    records = [
        record("r1", 1, 2, approver_ids=["u-carol", "u-alice"], automatic=False, end_reason="expired"),
        record("r2", 5, None, automatic=True),
    ]
    as_json = json.loads(render(records, Format.json))
    assert as_json[0]["approver_ids"] == ["u-carol", "u-alice"] and as_json[0]["held_for_seconds"] == 3600
    rows = list(csv.DictReader(io.StringIO(render(records, Format.csv))))
    assert rows[0]["approver_ids"] == "u-carol;u-alice" and rows[1]["outcome"] == "active"
    table = render(records, Format.table)
    assert "u-carol, u-alice" in table and "revoked: expired" in table and "(1h)" in table
    assert "automatic" in table and "(due " in table
    assert table.splitlines()[1].split()[2] == "r1", (
        "the request id, for `latchkey-access approve` or a lookup"
    )


def test_bad_input_and_an_unreachable_kafka_are_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli, ["report", "--since", "last tuesday"])
    assert result.exit_code == 2 and "'last tuesday' is not a date" in result.output
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LATCHKEY_KAFKA_BOOTSTRAP", f"127.0.0.1:{port}")
    result = CliRunner().invoke(cli, ["report"])
    assert result.exit_code == 2 and f"cannot reach Kafka at 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
