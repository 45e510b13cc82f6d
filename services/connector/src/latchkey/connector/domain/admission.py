"""Which commands this connector will run: the checks after the signature, all local, no I/O."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from latchkey.contracts import ConnectorCommand, GrantCommand, RevokeCommand, RotateCommand
from latchkey.runtime.signing import CommandRefused

from ..config import ConnectorConfig, IntegrationConfig
from ..templates import ParameterInvalid, Template

AccessCommand = GrantCommand | RevokeCommand | RotateCommand


@dataclass(frozen=True)
class Admitted:
    """A command that passed every local check, with its validated parameters."""

    integration: IntegrationConfig
    template: Template | None
    parameters: dict[str, str]


def admit(command: ConnectorCommand, config: ConnectorConfig) -> Admitted:
    """Raise CommandRefused unless this connector serves the integration and allows the template,
    and the parameters satisfy it. Runs after the signature and window checks."""
    if command.connector_id != config.connector_id:
        raise CommandRefused(
            "wrong_connector",
            f"command is addressed to connector {command.connector_id!r}, this is {config.connector_id!r}",
        )
    integration = config.integrations.get(command.integration_id)
    if integration is None:
        raise CommandRefused(
            "unknown_integration",
            f"integration {command.integration_id!r} is not configured on connector {config.connector_id!r}",
        )
    if not isinstance(command, GrantCommand | RevokeCommand | RotateCommand):
        return Admitted(integration, None, {})
    if command.template not in integration.templates:
        raise CommandRefused(
            "unknown_template",
            f"template {command.template!r} is not allowed for integration {integration.id!r} "
            f"(allowed: {integration.templates})",
        )
    template = config.templates.get(integration.type, command.template)
    if template is None:  # load_config guarantees this; kept so a bad reload cannot run a ghost
        raise CommandRefused(
            "unknown_template", f"template {integration.type}/{command.template} is not loaded"
        )
    try:
        parameters = template.bind(command.parameters)
    except ParameterInvalid as exc:
        raise CommandRefused("invalid_parameters", str(exc)) from None
    if isinstance(command, GrantCommand) and command.requester_public_key is not None:
        check_public_key(command.requester_public_key)
    return Admitted(integration, template, parameters)


def check_public_key(text: str) -> bytes:
    """The raw 32-byte X25519 key from base64, or CommandRefused."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise CommandRefused(
            "invalid_public_key", "requester_public_key must be base64 of a 32-byte X25519 key"
        )
    return raw
