"""The one interface every integration implements, and the registry the core looks types up in.

Each operation is idempotent: "already granted" and "already revoked" are success, because a command
may be re-run by the replica that takes over after a crash (at-least-once delivery).
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

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
    """The target refused or failed. `retryable` says whether trying again later can help.

    The message must never contain a secret value: it ends up in a CommandFailed reason.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


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
