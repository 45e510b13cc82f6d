"""Reading a Latchkey process's logs back: the JSON lines `latchkey.runtime.observability` writes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def log_entries(text: str, event: str | None = None) -> list[tuple[datetime, dict[str, Any]]]:
    """(timestamp, entry) of each JSON log line in `text`, in order, optionally only those about
    `event`. Other lines (a traceback, a library's warning) are skipped."""
    found = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
            stamp = datetime.fromisoformat(entry["timestamp"])
        except (ValueError, KeyError, TypeError):
            continue
        if event is None or entry.get("event") == event:
            found.append((stamp, entry))
    return found
