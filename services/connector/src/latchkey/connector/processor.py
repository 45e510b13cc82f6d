"""Processing one command: verify, admit, dedupe, apply through the integration, seal, decide the result.

The order matters: nothing reaches an integration (or the secret store) until the signature, the
validity window, the replay check and the local allowlist have all passed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from latchkey.contracts import (
    CommandApplied,
    CommandFailed,
    ConnectorCommand,
    GrantCommand,
    RevokeCommand,
    RotateCommand,
    SyncInventoryCommand,
)
from latchkey.runtime.observability import get_logger
from latchkey.runtime.signing import CommandRefused, CommandVerifier

from .config import ConnectorConfig
from .domain.admission import Admitted, admit
from .domain.replay import Executed, ExecutedCommands
from .domain.sealing import seal_credentials
from .integrations.base import BLOCKING, AccessSpec, Integration, IntegrationError
from .secrets import SecretUnavailable

log = get_logger(__name__)

Result = CommandApplied | CommandFailed


class InventoryRunner:
    """What the processor needs from inventory sync (see inventory.py)."""

    async def sync(self, integration_id: str) -> int:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class Outcome:
    """What to publish for one command: a result, or nothing (a redelivery whose result exists)."""

    result: Result | None
    duplicate_of: Executed | None = None


class CommandProcessor:
    def __init__(
        self,
        config: ConnectorConfig,
        integrations: dict[str, Integration],
        verifier: CommandVerifier,
        executed: ExecutedCommands,
        *,
        inventory: InventoryRunner | None = None,
        replica: str = "",
        producer: str = "connector",
        replay_window_seconds: float = 24 * 3600,
        command_timeout_seconds: float = 60.0,
    ) -> None:
        self.config = config
        self.integrations = integrations
        self.verifier = verifier
        self.executed = executed
        self.inventory = inventory
        self.replica = replica[:128]
        self.producer = producer
        self.replay_window = replay_window_seconds
        self.timeout = command_timeout_seconds
        self.counts: dict[str, int] = {}

    async def process(self, command: ConnectorCommand, source: str) -> Outcome:
        """Decide and (if admitted) apply `command`, read from record `source` ("topic:partition:offset")."""
        with structlog.contextvars.bound_contextvars(
            command_id=command.command_id,
            grant_id=command.grant_id,
            command_type=command.type,
            attempt=command.attempt,
        ):
            previous = self.executed.lookup(command.command_id)
            try:
                self.verifier.verify(command)
                self._check_window(command)
                if previous is not None:
                    if previous.source == source:
                        # The same record redelivered after a crash or a rebalance: its result is
                        # already on connector.results.v1, so publish nothing and let it commit.
                        self._count("redelivered")
                        log.info("command already has a result; not executed again", source=source)
                        return Outcome(None, duplicate_of=previous)
                    raise CommandRefused(
                        "replayed",
                        f"command {command.command_id} was already executed ({previous.outcome}); "
                        "the original result stands",
                    )
                admitted = admit(command, self.config)
            except CommandRefused as refused:
                self._count(refused.code)
                log.warning("command refused", code=refused.code, reason=refused.reason)
                return Outcome(
                    self._failed(command, refused.code, refused.reason, retryable=False, applied=False)
                )
            started = time.perf_counter()
            result = await self._apply(command, admitted)
            log.info(
                "command processed",
                outcome=result.type,
                code=getattr(result, "code", None),
                integration_id=command.integration_id,
                elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            return Outcome(result)

    def _check_window(self, command: ConnectorCommand) -> None:
        # A command valid for longer than we remember ids could be replayed after we forgot it.
        span = (command.not_after - command.issued_at).total_seconds()
        if span > self.replay_window:
            raise CommandRefused(
                "window_too_long",
                f"command is valid for {span:.0f}s, longer than this connector's replay window "
                f"({self.replay_window:.0f}s); issue it with a shorter not_after",
            )

    async def _apply(self, command: ConnectorCommand, admitted: Admitted) -> Result:
        integration = self.integrations[admitted.integration.id]
        if not await BLOCKING.settled(command.grant_id, self.timeout):
            # A call of an earlier command of this grant timed out and still runs in its thread: running
            # this one now could race it (a revoke before the grant it undoes lands).
            self._count("busy")
            log.warning(
                "an earlier call for this grant is still running", running=BLOCKING.running(command.grant_id)
            )
            return self._failed(
                command,
                "busy",
                f"an earlier operation of grant {command.grant_id} is still running on the target; "
                "this command was not started",
                retryable=True,
                applied=False,
            )
        try:
            return await asyncio.wait_for(self._run(command, admitted, integration), self.timeout)
        except IntegrationError as exc:
            self._count("target_error")
            log.warning(
                "integration failed",
                error=str(exc),
                retryable=exc.retryable,
                may_have_applied=exc.may_have_applied,
            )
            return self._failed(
                command, "target_error", str(exc), retryable=exc.retryable, applied=exc.may_have_applied
            )
        except SecretUnavailable as exc:
            # Integrations fetch their secrets before their first change.
            self._count("secret_unavailable")
            log.warning("integration secret unavailable", error=str(exc))
            return self._failed(command, "secret_unavailable", str(exc), retryable=True, applied=False)
        except TimeoutError:
            self._count("timeout")
            log.warning("integration timed out", timeout_s=self.timeout)
            return self._failed(
                command,
                "timeout",
                f"the integration did not finish within {self.timeout:.0f}s",
                retryable=True,
                applied=True,
            )
        except CommandRefused as refused:
            self._count(refused.code)
            return self._failed(command, refused.code, refused.reason, retryable=False, applied=False)
        except Exception as exc:
            # The exception text of a driver may quote what it was given (a DSN, a password):
            # publish and log only its type.
            self._count("internal_error")
            log.error("integration raised unexpectedly", error_type=type(exc).__name__)
            return self._failed(
                command,
                "internal_error",
                f"unexpected {type(exc).__name__} in integration {admitted.integration.id!r}",
                retryable=True,
                applied=True,
            )

    async def _run(self, command: ConnectorCommand, admitted: Admitted, integration: Integration) -> Result:
        applied: dict[str, Any] = {}
        if isinstance(command, SyncInventoryCommand):
            if self.inventory is None:
                raise CommandRefused("unsupported", "inventory sync is not enabled on this connector")
            await self.inventory.sync(admitted.integration.id)
        elif isinstance(command, GrantCommand):
            access = self._access(command, admitted, command.expires_at, command.requester_public_key)
            outcome = await integration.grant(access)
            if outcome.credentials:
                if not command.requester_public_key:
                    # Never publish credentials in the clear: undo the grant and say why.
                    await integration.revoke(access)
                    raise CommandRefused(
                        "missing_public_key",
                        f"template {command.template!r} issues credentials; the command must carry "
                        "requester_public_key to seal them to",
                    )
                applied["sealed_credentials"] = seal_credentials(
                    outcome.credentials, command.requester_public_key
                )
        elif isinstance(command, RevokeCommand):
            access = self._access(command, admitted, None, None)
            revoked = await integration.revoke(access)
            rotated = revoked.rotated
            if command.rotate_credentials and not rotated:
                await integration.rotate(access)
                rotated = True
            applied["credential_rotated"] = rotated
        elif isinstance(command, RotateCommand):
            await integration.rotate(self._access(command, admitted, None, None))
            applied["credential_rotated"] = True
        self._count("applied")
        return CommandApplied(**self._result_fields(command), **applied)

    @staticmethod
    def _access(
        command: GrantCommand | RevokeCommand | RotateCommand,
        admitted: Admitted,
        expires_at: datetime | None,
        public_key: str | None,
    ) -> AccessSpec:
        assert admitted.template is not None
        return AccessSpec(
            grant_id=command.grant_id,
            template=admitted.template,
            resource=command.resource,
            parameters=admitted.parameters,
            principal=command.principal,
            expires_at=expires_at.astimezone(UTC) if expires_at else None,
            requester_public_key=public_key,
        )

    def _result_fields(self, command: ConnectorCommand) -> dict[str, Any]:
        """What every result of `command` says about where it came from."""
        return {
            "producer": self.producer,
            "correlation_id": command.grant_id,
            "causation_id": command.event_id,
            "command_id": command.command_id,
            "grant_id": command.grant_id,
            "connector_id": self.config.connector_id,
            "command_type": command.type,
            "attempt": command.attempt,
            "replica": self.replica,
        }

    def _failed(
        self, command: ConnectorCommand, code: str, reason: str, *, retryable: bool, applied: bool
    ) -> CommandFailed:
        """`applied`: whether the command may have changed the target before it failed."""
        return CommandFailed(
            **self._result_fields(command),
            code=code[:64],
            reason=reason[:2000],
            retryable=retryable,
            may_have_applied=applied,
        )

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
