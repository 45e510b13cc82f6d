"""`noop`: an integration that touches nothing. It records calls in memory (for benchmarks and tests
of the command core; the latest `remembered_calls`, so a long-running noop connector does not grow)
and keeps the set of active grants, with the same idempotence as a real target.

`connection.delay_ms` (optional) makes each call take that long, to model a slow target in failover
tests. `connection.journal` (optional) names a file to which each call is appended as one line: tests that
run connectors as subprocesses read it to see what the "target" received. `connection.resources`
(optional, default `[noop-resource]`) is what its inventory reports.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import ClassVar

from .base import AccessSpec, GrantOutcome, Integration, InventoryItem, RevokeOutcome, register


@dataclass(frozen=True)
class NoopCall:
    operation: str
    grant_id: str
    template: str
    resource: str


@register
class NoopIntegration(Integration):
    type: ClassVar[str] = "noop"
    connection_keys: ClassVar[frozenset[str]] = frozenset({"delay_ms", "journal", "resources"})
    remembered_calls: ClassVar[int] = 10_000
    """How many of the latest calls `calls` keeps (between this and twice this)."""

    calls: list[NoopCall]
    active: set[tuple[str, str, str]]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls = []
        self.active = set()
        journal = self.config.connection.get("journal")
        self._journal = str(journal) if journal else None
        self._delay = float(self.config.connection.get("delay_ms", 0)) / 1000

    async def sync_inventory(self) -> list[InventoryItem]:
        resources = self.config.connection.get("resources", ["noop-resource"])
        names = [t.name for t in self.templates.for_type(self.type) if t.name in self.config.templates]
        return [
            InventoryItem(resource_id=str(r), resource_type="noop", name=str(r), permissions=names)
            for r in resources
        ]

    async def grant(self, access: AccessSpec) -> GrantOutcome:
        await self._record("grant", access)
        self.active.add(self._key(access))
        return GrantOutcome()

    async def revoke(self, access: AccessSpec) -> RevokeOutcome:
        await self._record("revoke", access)
        self.active.discard(self._key(access))
        return RevokeOutcome(rotated=False)

    async def rotate(self, access: AccessSpec) -> None:
        await self._record("rotate", access)

    @staticmethod
    def _key(access: AccessSpec) -> tuple[str, str, str]:
        return (access.grant_id, access.template.name, access.resource)

    async def _record(self, operation: str, access: AccessSpec) -> None:
        if self._delay:
            await asyncio.sleep(self._delay)
        call = NoopCall(operation, access.grant_id, access.template.name, access.resource)
        self.calls.append(call)
        if len(self.calls) > 2 * self.remembered_calls:  # trimmed now and then, not at every call
            del self.calls[: -self.remembered_calls]
        if self._journal is not None:
            line = f"{operation} {access.grant_id} {access.template.name} {access.resource}\n".encode()
            # One write(2) with O_APPEND: lines from several processes never interleave.
            fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
