"""`env://VAR`: a secret from the connector's own environment. For development only."""

from __future__ import annotations

import logging
import os

from latchkey.connector.secrets import SecretProviderSettings, SecretRef, SecretUnavailable

logger = logging.getLogger(__name__)
_warned = False  # once per process: enough to be noticed in a deployment, not enough to drown the logs


class EnvironmentSecretProvider:
    """Reads an environment variable. Production connectors use a real secret store instead."""

    def __init__(self, settings: SecretProviderSettings) -> None:
        self._allowed = settings.allow_env_secrets

    async def fetch(self, ref: SecretRef) -> str:
        if not self._allowed:
            raise SecretUnavailable(
                ref.raw, "env:// references are disabled (LATCHKEY_ALLOW_ENV_SECRETS=false)"
            )
        global _warned
        if not _warned:
            logger.warning(
                "env:// secret references are for development only; use a secret store in production",
                extra={"secret_ref": ref.raw},
            )
            _warned = True
        value = os.environ.get(ref.path)
        if value is None:
            raise SecretUnavailable(ref.raw, f"environment variable {ref.path} is not set")
        return value

    async def close(self) -> None:
        return None
