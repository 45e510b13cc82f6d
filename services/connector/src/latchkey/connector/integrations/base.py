"""The one interface every integration implements, and the registry the core looks types up in.

Each operation is idempotent: "already granted" and "already revoked" are success, because a command
may be re-run by the replica that takes over after a crash (at-least-once delivery).

A grant that fails may still have changed the target (an operation applied before a later one failed).
Unless an IntegrationError says `may_have_applied=False`, flow-engine then revokes the grant, so an
integration says so only where it knows nothing was changed, and fetches its secrets before its first
change. Blocking SDK calls run through `BLOCKING`, so that a call still running after its command
timed out delays the next command of that grant instead of racing it.
"""

from __future__ import annotations

import asyncio
import contextvars
import difflib
import functools
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar

from latchkey.contracts import Principal

if TYPE_CHECKING:
    from latchkey.connector.config import IntegrationConfig
    from latchkey.connector.secrets import SecretResolver
    from latchkey.connector.templates import Template, TemplateSet


@dataclass(frozen=True)
class AccessSpec:
    """What one grant/revoke/rotate command asks of an integration, after the core validated it."""

    grant_id: str
    template: Template
    resource: str
    parameters: dict[str, str]
    principal: Principal
    expires_at: datetime | None
    requester_public_key: str | None


@dataclass(frozen=True)
class GrantOutcome:
    """`credentials` (e.g. host/port/database/user/password) are sealed by the core before publishing."""

    credentials: dict[str, str] | None = None


@dataclass(frozen=True)
class RevokeOutcome:
    rotated: bool = False


@dataclass(frozen=True)
class InventoryItem:
    """One resource found in the environment: names and metadata only, never data."""

    resource_id: str
    resource_type: str
    name: str
    permissions: list[str]
    owner_ids: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)


class IntegrationError(Exception):
    """The target refused or failed. `retryable` says whether trying again later can help;
    `may_have_applied` whether the target may have been changed before the failure (when in doubt,
    True: a failed grant is then revoked to be sure).

    The message must never contain a secret value: it ends up in a CommandFailed reason.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        may_have_applied: bool = True,
        after_change: bool = False,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.may_have_applied = may_have_applied or after_change
        self.after_change = after_change
        """Raised after the operation's own change went through (e.g. while waiting for it to take
        effect): never read as "nothing changed"."""


def refused_first(index: int, exc: IntegrationError) -> IntegrationError:
    """`exc` from the template's operation at `index`: when the API refused the first change outright
    (an answer not worth retrying: 4xx, a check of ours), nothing was changed."""
    if index == 0 and not exc.retryable and not exc.after_change:
        exc.may_have_applied = False
    return exc


async def in_order(
    operations: Sequence[dict[str, Any]], apply: Callable[[dict[str, Any]], Awaitable[None]]
) -> None:
    """`apply` each of a template's operations in turn (async APIs); see `refused_first`."""
    for index, operation in enumerate(operations):
        try:
            await apply(operation)
        except IntegrationError as exc:
            raise refused_first(index, exc) from None


@contextmanager
def before_changes() -> Iterator[None]:
    """Around what an integration does before its first change (secrets, sessions, clients, checks):
    an IntegrationError there changed nothing."""
    try:
        yield
    except IntegrationError as exc:
        exc.may_have_applied = False
        raise


_P = ParamSpec("_P")
_R = TypeVar("_R")


class BlockingCalls:
    """Blocking SDK calls of each grant, run in threads. A command that times out cannot stop its
    thread, so the call may still change the target afterwards (attach a policy after the revoke that
    was meant to undo it ran). The processor waits for a grant's calls to end (`settled`) before it
    runs that grant's next command."""

    def __init__(self) -> None:
        self._running: dict[str, set[asyncio.Future[Any]]] = {}

    async def run(self, grant_id: str, call: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs) -> _R:
        """`call(*args, **kwargs)` in the default executor, tracked under `grant_id` until it returns
        (whether or not its caller still waits: cancelling the caller leaves the call tracked)."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        future = loop.run_in_executor(None, functools.partial(context.run, call, *args, **kwargs))
        running = self._running.setdefault(grant_id, set())
        running.add(future)
        future.add_done_callback(functools.partial(self._done, grant_id))
        return await asyncio.shield(future)

    def _done(self, grant_id: str, future: asyncio.Future[Any]) -> None:
        running = self._running.get(grant_id)
        if running is not None:
            running.discard(future)
            if not running:
                del self._running[grant_id]
        if not future.cancelled():
            future.exception()  # retrieved: an abandoned call's error is not "never retrieved"

    def running(self, grant_id: str) -> int:
        return len(self._running.get(grant_id, ()))

    async def drain(self, timeout: float) -> int:
        """Wait up to `timeout` s for every tracked call to end (at shutdown: the replica that takes the
        partitions over must not run a grant's next command while this one's call still runs); returns
        how many still run."""
        return await _still_running(
            {future for futures in self._running.values() for future in futures}, timeout
        )

    async def settled(self, grant_id: str, timeout: float) -> bool:
        """Wait up to `timeout` s for `grant_id`'s calls to end; False if one still runs."""
        return not await _still_running(set(self._running.get(grant_id, ())), timeout)


async def _still_running(futures: set[asyncio.Future[Any]], timeout: float) -> int:
    """How many of `futures` have not ended after waiting up to `timeout` s (none to wait for: 0)."""
    if not futures:
        return 0
    _, pending = await asyncio.wait(futures, timeout=timeout)
    return len(pending)


BLOCKING = BlockingCalls()
"""The connector's blocking calls (one process, one event loop)."""


# A `connection:` key with one of these in its name is probably a credential pasted in by mistake.
_SECRET_MARKERS = ("password", "secret", "token", "credential", "private_key")


class Integration(ABC):
    """A system the connector can grant access in. Subclasses set `type`, declare `connection_keys`
    and register themselves."""

    type: ClassVar[str]
    connection_keys: ClassVar[frozenset[str]]
    """Every `connection:` key this type reads; loading refuses any other, so a typo (`hots:`) fails
    `validate-config` instead of the first command. `register` refuses a class without it."""
    required_connection_keys: ClassVar[frozenset[str]] = frozenset()
    """The keys among them it cannot work without."""

    def __init__(self, config: IntegrationConfig, secrets: SecretResolver, templates: TemplateSet) -> None:
        self.config = config
        self.secrets = secrets
        self.templates = templates

    @classmethod  # noqa: B027 - an optional hook, deliberately not abstract
    def validate_operations(cls, template: Template) -> None:
        """Check the shape of a template's grant/revoke/rotate operations; raise ValueError if wrong.

        Called when templates are loaded, so a bad template fails `validate-config` and readiness,
        not a command at 3 a.m.
        """

    @classmethod
    def check_connection(cls, config: IntegrationConfig) -> None:
        """Refuse `config.connection` keys this type does not read and required ones that are missing:
        ValueError naming the integration, the keys and the known ones, never a value (a subclass adds
        rules that depend on other fields, e.g. a key needed with a `secret`)."""
        where = f"integration {config.id!r} ({cls.type})"
        known = sorted(cls.connection_keys)
        unknown = sorted(set(config.connection) - cls.connection_keys)
        if unknown:
            problems = []
            for key in unknown:
                close = difflib.get_close_matches(key, known, n=1)
                problems.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            advice = ""
            if any(marker in key.lower() for key in unknown for marker in _SECRET_MARKERS):
                advice = (
                    "; a credential never goes in connection: keep it in the secret store and name it "
                    "with `secret:`"
                )
            raise ValueError(
                f"{where}: unknown connection key{'s' if len(unknown) > 1 else ''} {', '.join(problems)}; "
                f"{cls.type} reads {', '.join(known) or 'no connection keys'}{advice}"
            )
        missing = sorted(k for k in cls.required_connection_keys if config.connection.get(k) in (None, ""))
        if missing:
            needed = " and ".join(f"connection.{key}" for key in missing)
            raise ValueError(f"{where}: {needed} {'is' if len(missing) == 1 else 'are'} required")

    @abstractmethod
    async def sync_inventory(self) -> list[InventoryItem]: ...

    @abstractmethod
    async def grant(self, access: AccessSpec) -> GrantOutcome: ...

    @abstractmethod
    async def revoke(self, access: AccessSpec) -> RevokeOutcome: ...

    @abstractmethod
    async def rotate(self, access: AccessSpec) -> None: ...

    async def close(self) -> None:  # noqa: B027 - most integrations hold nothing open
        """Release connections; called at shutdown."""


class OperationsIntegration(Integration):
    """An integration whose templates list API operations (cloud IAM, Kubernetes RBAC): grant, revoke
    and rotate each run the template's operations for that phase; the API calls are the subclass's."""

    @abstractmethod
    async def _run(self, access: AccessSpec, operations: list[dict[str, Any]]) -> None:
        """Apply `operations` (already validated at load) for `access`; idempotent."""

    async def grant(self, access: AccessSpec) -> GrantOutcome:
        await self._run(access, access.template.grant)
        return GrantOutcome()

    async def revoke(self, access: AccessSpec) -> RevokeOutcome:
        await self._run(access, access.template.revoke)
        return RevokeOutcome(rotated=False)

    async def rotate(self, access: AccessSpec) -> None:
        await self._run(access, access.template.rotate)


REGISTRY: dict[str, type[Integration]] = {}
"""Integration type name → class. Modules register on import; see `latchkey.connector.integrations`."""

_I = TypeVar("_I", bound=type[Integration])


def register(cls: _I) -> _I:
    """Class decorator: make `cls` available to connector.yaml under `cls.type`."""
    if not isinstance(getattr(cls, "connection_keys", None), frozenset):
        raise TypeError(
            f"integration {cls.__name__} must declare connection_keys: the connection: keys it reads"
        )
    existing = REGISTRY.get(cls.type)
    if existing is not None and existing is not cls:
        raise ValueError(
            f"integration type {cls.type!r} registered twice ({existing.__name__}, {cls.__name__})"
        )
    REGISTRY[cls.type] = cls
    return cls


IntegrationFactory = Callable[["IntegrationConfig", "SecretResolver", "TemplateSet"], Integration]


def api_error_field(response: Any, field: str) -> str:
    """`error.<field>` of a cloud REST error body (`{"error": {...}}`, as ARM and Google APIs send), or ""."""
    try:
        return str(response.json().get("error", {}).get(field, ""))
    except ValueError:
        return ""


def api_error(service: str, what: str, response: Any, *, code_field: str) -> IntegrationError:
    """An IntegrationError for a failed cloud REST call; 429 and 5xx are worth retrying."""
    code = api_error_field(response, code_field)
    message = api_error_field(response, "message")[:300]
    return IntegrationError(
        f"{service} {what} failed: {response.status_code} {code} {message}".strip(),
        retryable=response.status_code == 429 or response.status_code >= 500,
    )
