"""The one interface every identity provider implements."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..domain.model import GroupPatch, IdentityGroup, IdentityUser, UserPatch

T = TypeVar("T")
R = TypeVar("R")


class ProviderError(RuntimeError):
    """The IdP could not be read completely (after retries). The message never carries a secret or PII."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DeltaExpired(ProviderError):
    """The stored delta cursor is no longer accepted (Graph answers 410): a full sync is needed."""


@dataclass(slots=True)
class Listing:
    """A complete listing of the IdP; `cursor` is where the next delta round starts (delta IdPs only)."""

    users: list[IdentityUser]
    groups: list[IdentityGroup]
    cursor: dict[str, Any] | None = None


@dataclass(slots=True)
class Delta:
    """Changes since a cursor, merged per id, and the cursor to continue from."""

    users: list[UserPatch] = field(default_factory=list)
    groups: list[GroupPatch] = field(default_factory=list)
    cursor: dict[str, Any] | None = None


@dataclass(slots=True)
class RequestStats:
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0


class IdentityProvider(ABC):
    """Lists users and groups from one IdP. Implementations parse payloads into the minimised model as
    soon as they arrive; nothing else leaves a provider."""

    name: str = "unknown"
    supports_delta: bool = False

    def __init__(self) -> None:
        self.stats = RequestStats()

    @abstractmethod
    def users(self) -> AsyncIterator[IdentityUser]:
        """Every user (active or not) with id, email, active flag and manager id."""

    @abstractmethod
    def groups(self) -> AsyncIterator[IdentityGroup]:
        """Every group with its direct user members and (where the IdP nests) direct member groups."""

    async def full_listing(self) -> Listing:
        users = [user async for user in self.users()]
        groups = [group async for group in self.groups()]
        return Listing(users, groups)

    async def delta(self, cursor: dict[str, Any]) -> Delta:
        """Changes since `cursor` (only when `supports_delta`)."""
        raise NotImplementedError(f"{self.name} has no delta queries")

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        pass


async def bounded_map(func: Callable[[T], Awaitable[R]], items: Sequence[T], concurrency: int) -> list[R]:
    """`func` over `items` with at most `concurrency` in flight, results in order. A fixed set of
    workers rather than a task per item: 10k groups must not mean 10k pending coroutines in memory.
    The first failure cancels the rest."""
    results: list[Any] = [None] * len(items)
    indices = iter(range(len(items)))

    async def worker() -> None:
        for index in indices:
            results[index] = await func(items[index])

    workers = [asyncio.ensure_future(worker()) for _ in range(max(1, min(concurrency, len(items))))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return results


async def concurrently(first: Awaitable[T], second: Awaitable[R]) -> tuple[T, R]:
    """Both at once. The first failure cancels the other and is raised as itself (asyncio.gather
    would leave the other running, still calling the IdP for a run that has already failed)."""
    tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(first), asyncio.ensure_future(second)]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if (error := task.exception()) is not None:
            raise error
    return tasks[0].result(), tasks[1].result()
