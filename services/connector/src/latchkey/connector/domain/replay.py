"""Remembering which commands already have a result, so none is executed twice within its window.

Each replica records the commands it finished and, through `ResultLedger` (results.py), every result
any replica of this connector published on connector.results.v1. A command whose id is known is not
run again: if it is the *same record* (partition/offset) redelivered after a crash, the result is
already on the topic and nothing more is published; if it is a *new record* with an old id, it is a
replay and is refused with code `replayed`.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Executed:
    command_id: str
    source: str  # "<topic>:<partition>:<offset>" of the command record that produced the result
    outcome: str  # "applied" | "failed"


class ExecutedCommands:
    """A TTL map command_id → Executed; entries older than `window_seconds` are forgotten, because a
    command older than its validity window is refused as expired anyway."""

    def __init__(self, window_seconds: float) -> None:
        self.window = window_seconds
        self._entries: OrderedDict[str, tuple[float, Executed]] = OrderedDict()
        self._now = time.monotonic

    def remember(self, executed: Executed, *, age_seconds: float = 0.0) -> None:
        if age_seconds >= self.window:
            return
        self._entries[executed.command_id] = (self._now() - age_seconds, executed)
        self._entries.move_to_end(executed.command_id)
        self._expire()

    def forget(self, command_id: str) -> None:
        self._entries.pop(command_id, None)

    def lookup(self, command_id: str) -> Executed | None:
        self._expire()
        entry = self._entries.get(command_id)
        return entry[1] if entry is not None else None

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self) -> None:
        horizon = self._now() - self.window
        # Entries are (almost) in insertion-time order; stop at the first young one.
        while self._entries:
            key, (at, _) = next(iter(self._entries.items()))
            if at >= horizon:
                break
            del self._entries[key]
