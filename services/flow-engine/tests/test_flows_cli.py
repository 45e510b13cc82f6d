"""`latchkey-flows validate` and `apply`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from typer.testing import CliRunner

from latchkey.contracts import FLOWS
from latchkey.flow_engine import flows_cli
from latchkey.flow_engine.flows_cli import cli
from latchkey.runtime.testing.ports import free_port

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "flows"


def test_validate_accepts_the_examples() -> None:
    result = CliRunner().invoke(cli, ["validate", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    assert "orders-readonly" in result.output and "orders-readwrite" in result.output


def test_validate_reports_every_error_with_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: latchkey/v1\nkind: AccessFlow\nmetadata: {name: ok-name}\nspec:\n"
        "  requesters: {groups: [eng]}\n"
        "  access: {integration: x, resources: [{name: '*'}], permissions: [ro]}\n"
        "  approval: {automatic: true}\n  defaultDuration: 9h\n  maxDuration: 1h\n  schedule:\n"
        "    timezone: Mars/Olympus\n    windows: [{hours: '25:00-26:00'}]\n"
    )
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith(f"{bad}:11: spec.schedule.timezone: unknown timezone") for line in lines), (
        lines
    )
    assert any(line.startswith(f"{bad}:12: spec.schedule.windows[0].hours") for line in lines), lines


def test_duplicate_names_across_files_are_an_error(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text((EXAMPLES / "orders-readonly.yaml").read_text())
    result = CliRunner().invoke(cli, ["validate", str(tmp_path)])
    assert result.exit_code == 1 and "is also defined at" in result.output


def test_a_path_without_flows_is_not_a_pass(tmp_path: Path) -> None:
    """A mistyped or empty folder holds nothing to check: saying "ok" to it would hide the mistake."""
    for command in (["validate", str(tmp_path)], ["apply", str(tmp_path)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1 and f"no AccessFlow found in {tmp_path}" in result.output, result.output


def test_apply_with_kafka_out_of_reach_says_so_once_and_claims_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LATCHKEY_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setattr(flows_cli, "CONNECT_SECONDS", 3)
    result = CliRunner().invoke(cli, ["apply", str(EXAMPLES)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach Kafka at 127.0.0.1:"), lines
    assert "applied" not in result.output and "Traceback" not in result.output


@pytest.mark.infra
async def test_apply_publishes_upserts_and_deletes(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LATCHKEY_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("LATCHKEY_TOPIC_PREFIX", topic_prefix)
    from latchkey.flow_engine.flows_cli import FlowsSettings, load, publish

    flows, errors = load([EXAMPLES])
    assert not errors
    await publish(FlowsSettings(), flows, ["retired-flow"], "tester")
    consumer = AIOKafkaConsumer(
        topic_prefix + FLOWS.name, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    records = sorted((r for b in batches.values() for r in b), key=lambda r: (r.partition, r.offset))
    values = [json.loads(r.value) if r.value else None for r in records]
    upserts = {v["name"]: v for v in values if v and v["type"] == "access.flow.upserted"}
    assert {"orders-readonly", "orders-readwrite"} <= set(upserts)
    assert upserts["orders-readwrite"]["spec"]["spec"]["approval"]["steps"][1]["allOf"] == [{"manager": True}]
    assert any(v and v["type"] == "access.flow.deleted" for v in values) and None in values
