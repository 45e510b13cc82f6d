"""`azure-kv://vault/secret[#key]`: Azure Key Vault through azure-keyvault-secrets.

Authenticates with azure-identity's DefaultAzureCredential (workload identity, managed identity,
environment). The vault URL comes from `LATCHKEY_AZURE_KV_URL` (a template with `{vault}`, default
`https://{vault}.vault.azure.net`), so a local emulator can stand in for Key Vault. TLS is verified
against the system's CAs, or the PEM bundle `LATCHKEY_AZURE_KV_CA_FILE` names (a private CA).
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from latchkey.connector.secrets import (
    SecretProviderSettings,
    SecretRef,
    SecretUnavailable,
    certificate_refused,
)

# Key Vault's own naming rules: 1-127 alphanumerics and dashes.
_SECRET_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_VAULT_NAME = re.compile(r"^[0-9A-Za-z-]{1,63}$")


class StaticTokenCredential:
    """A credential for local emulators, which accept any bearer token. Never used against Azure."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("emulator-token", int(time.time()) + 3600)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("emulator-token", int(time.time()) + 3600)


class AzureKeyVaultProvider:
    def __init__(self, settings: SecretProviderSettings) -> None:
        self._url_template = settings.azure_kv_url
        # azure-core's `connection_verify`: True (the system's CAs), a CA bundle's path, or False
        self._verify: bool | str = False
        if settings.azure_kv_verify_tls:
            self._verify = settings.azure_kv_ca_file or True
        self._verify_challenge = settings.azure_kv_verify_challenge_resource
        # Only passed when set: the SDK's own default is the version it was built for.
        version = settings.azure_kv_api_version
        self._api_version = {"api_version": version} if version else {}
        self._timeout = settings.secret_timeout_s
        self._credential: Any
        if settings.azure_kv_fake_credential:
            self._credential = StaticTokenCredential()
        else:
            from azure.identity import DefaultAzureCredential

            self._credential = DefaultAzureCredential()
        self._clients: dict[str, Any] = {}

    def _client(self, vault: str) -> Any:
        client = self._clients.get(vault)
        if client is None:
            from azure.keyvault.secrets import SecretClient

            client = SecretClient(
                vault_url=self._url_template.format(vault=vault),
                credential=self._credential,
                connection_verify=self._verify,
                # An emulator's challenge may name a resource that is not its own host.
                verify_challenge_resource=self._verify_challenge,
                retry_total=1,
                connection_timeout=self._timeout,
                read_timeout=self._timeout,
                **self._api_version,
            )
            self._clients[vault] = client
        return client

    async def fetch(self, ref: SecretRef) -> str:
        vault, _, name = ref.path.partition("/")
        if not _VAULT_NAME.match(vault) or not _SECRET_NAME.match(name):
            raise SecretUnavailable(ref.raw, "expected azure-kv://vault/secret (letters, digits, dashes)")
        return await asyncio.to_thread(self._fetch, ref, vault, name)

    def _fetch(self, ref: SecretRef, vault: str, name: str) -> str:
        from azure.core.exceptions import (
            AzureError,
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
        )

        try:
            secret = self._client(vault).get_secret(name)
        except ResourceNotFoundError:
            raise SecretUnavailable(ref.raw, "Key Vault has no such secret (404)") from None
        except ClientAuthenticationError as exc:
            raise SecretUnavailable(
                ref.raw, f"Key Vault refused the connector's identity ({exc.status_code})"
            ) from None
        except HttpResponseError as exc:
            retryable = exc.status_code in (429, 500, 502, 503, 504)
            raise SecretUnavailable(
                ref.raw, f"Key Vault answered {exc.status_code}", retryable=retryable
            ) from None
        except AzureError as exc:
            if certificate_refused(exc):
                raise SecretUnavailable(
                    ref.raw,
                    "Key Vault's TLS certificate is not trusted (for a private CA, set"
                    " LATCHKEY_AZURE_KV_CA_FILE)",
                    retryable=True,
                ) from None
            raise SecretUnavailable(
                ref.raw, f"cannot reach Key Vault: {type(exc).__name__}", retryable=True
            ) from None
        if secret.value is None:
            raise SecretUnavailable(ref.raw, "the secret has no value")
        return str(secret.value)

    async def close(self) -> None:
        for client in self._clients.values():
            await asyncio.to_thread(client.close)
        self._clients.clear()
