"""`python -m latchkey.contracts schemas|asyncapi|check`: export and check the event contracts."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .asyncapi import document
from .compat import breaking_changes
from .envelope import Event
from .topics import ALL_TOPICS, connector_commands, dead_letters

DEFAULT_SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def current_schemas() -> dict[str, dict[str, Any]]:
    """`<topic>/<event type>.json` → JSON Schema, for every event of every topic."""
    out: dict[str, dict[str, Any]] = {}
    topics = [*ALL_TOPICS, connector_commands("CONNECTOR"), dead_letters(ALL_TOPICS[0])]
    for topic in topics:
        folder = topic.name.replace("connector.CONNECTOR.", "connector.{id}.")
        if topic.name.endswith(".dlq"):
            folder = "dlq"
        for event_type in topic.event_types():
            out[f"{folder}/{_type_name(event_type)}.json"] = event_type.model_json_schema(mode="validation")
    return out


def _type_name(event_type: type[Event]) -> str:
    return str(event_type.model_fields["type"].default)


def compatibility_problems(folder: Path) -> list[str]:
    """Breaking changes of the current models against the snapshots committed in `folder`."""
    problems: list[str] = []
    current = current_schemas()
    for path in sorted(folder.rglob("*.json")):
        name = path.relative_to(folder).as_posix()
        old = json.loads(path.read_text())
        new = current.get(name)
        if new is None:
            problems.append(f"{name}: event type removed")
            continue
        old_version = old.get("properties", {}).get("schema_version", {}).get("default", 1)
        new_version = new.get("properties", {}).get("schema_version", {}).get("default", 1)
        if new_version != old_version:
            continue  # a deliberate breaking change: it gets a new snapshot and topic suffix
        problems += [f"{name}: {p}" for p in breaking_changes(old, new)]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m latchkey.contracts", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    schemas = sub.add_parser("schemas", help="write a JSON Schema per event type")
    schemas.add_argument("--out", type=Path, default=DEFAULT_SCHEMAS)
    schemas.add_argument("--force", action="store_true", help="overwrite even on a breaking change")
    check = sub.add_parser("check", help="fail if the models break the committed schemas")
    check.add_argument("--dir", type=Path, default=DEFAULT_SCHEMAS)
    asyncapi = sub.add_parser("asyncapi", help="write the AsyncAPI document")
    asyncapi.add_argument(
        "--out", type=Path, default=DEFAULT_SCHEMAS.parent.parent / "docs" / "asyncapi.json"
    )
    args = parser.parse_args(argv)

    if args.command == "asyncapi":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(document(), indent=2, sort_keys=True) + "\n")
        print(f"wrote {args.out}")
        return 0
    folder = args.out if args.command == "schemas" else args.dir
    problems = compatibility_problems(folder) if folder.exists() else []
    if args.command == "check" or (problems and not args.force):
        for problem in problems:
            print(f"breaking change: {problem}", file=sys.stderr)
        if problems:
            print("Bump schema_version (and the topic suffix) or make the change additive.", file=sys.stderr)
        return 1 if problems else 0
    for name, schema in current_schemas().items():
        target = args.out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    print(f"wrote {len(current_schemas())} schemas to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
