"""Secret references resolved per use from the organisation's own secret store.

The connector keeps no secret at rest: `SecretResolver.fetch(ref)` reads the secret from its store
every time it is needed and returns it wrapped in `Secret`, which never shows its value in `repr`,
`str`, f-strings, logs or pickles. Nothing here caches a value; only the SDK clients are kept.

Reference formats (see docs/secrets.md):
    aws-sm://name[#jsonkey]                         AWS Secrets Manager (boto3)
    gcp-sm://projects/P/secrets/S/versions/V[#key]  GCP Secret Manager (google-cloud-secret-manager)
    azure-kv://vault/secret[#key]                   Azure Key Vault (azure-keyvault-secrets)
    k8s://namespace/name/key                        Kubernetes Secret (kubernetes client)
    env://VAR[#key]                                 environment variable, development only
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn, Protocol

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "Secret",
    "SecretProvider",
    "SecretProviderSettings",
    "SecretRef",
    "SecretResolver",
    "SecretUnavailable",
    "silence_sdk_body_logging",
]

_MASK = "Secret(***)"


class Secret:
    """A secret string that does not leak: every textual or serialised form is masked.

    Call `reveal()` at the one place the value is handed to a driver or SDK, and drop the object after.
    """

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        self.__value = value

    def reveal(self) -> str:
        """The secret value itself. Never log, store or publish what this returns."""
        return self.__value

    def __repr__(self) -> str:
        return _MASK

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant-time so equality checks cannot become a timing oracle.
        return hmac.compare_digest(self.__value.encode(), other.reveal().encode())

    __hash__ = None  # type: ignore[assignment]  # a hash of the value would be a fingerprint of it

    def __bool__(self) -> bool:
        return bool(self.__value)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret is never pickled or copied across processes")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Secret is never pickled or copied across processes")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self

    def json_field(self, key: str, *, ref: str = "<secret>") -> Secret:
        """The field `key` of this secret read as a JSON object (e.g. one credential of a bundle)."""
        return Secret(_json_field(self.__value, key, ref))


class SecretUnavailable(Exception):
    """The secret behind `ref` could not be fetched. The message names the ref and why, never the value."""

    def __init__(self, ref: str, reason: str, *, retryable: bool = False) -> None:
        self.ref = ref
        self.reason = reason
        self.retryable = retryable
        super().__init__(f"secret {ref} is unavailable: {reason}")


def certificate_refused(exc: BaseException) -> bool:
    """Whether a connection failed because the server's TLS certificate did not verify (the SDKs wrap
    the `ssl` error in their own: requests, urllib3's MaxRetryError, azure-core's inner_exception)."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(cause):
            return True
        cause = getattr(cause, "inner_exception", None) or cause.__cause__ or cause.__context__
    return False


@dataclass(frozen=True)
class SecretRef:
    """A parsed reference: `scheme://path#key`. It names where a secret lives, never what it is."""

    raw: str
    scheme: str
    path: str
    key: str | None = None

    @classmethod
    def parse(cls, raw: str) -> SecretRef:
        scheme, sep, rest = raw.partition("://")
        if not sep or not scheme or not rest:
            # Not echoed: a string that is not a reference may be a value pasted by mistake.
            raise SecretUnavailable(
                "<unparseable reference>",
                "not a secret reference; expected scheme://path (e.g. aws-sm://name)",
            )
        path, _, key = rest.partition("#")
        if not path:
            raise SecretUnavailable(raw, "the reference has an empty path")
        return cls(raw=raw, scheme=scheme.lower(), path=path, key=key or None)

    def __str__(self) -> str:
        return self.raw


class SecretProvider(Protocol):
    """Reads one secret from one kind of store. Implementations never cache values."""

    async def fetch(self, ref: SecretRef) -> str:
        """The raw secret string (the resolver applies `#key` and wraps it); raise SecretUnavailable."""
        ...

    async def close(self) -> None: ...


class SecretProviderSettings(BaseSettings):
    """Where the providers find their stores. Defaults reach the real clouds; tests point them at emulators.

    AWS reads the standard boto3 environment (AWS_ENDPOINT_URL, AWS_REGION, credentials chain) and
    Kubernetes the standard KUBECONFIG / in-cluster service account.
    """

    model_config = SettingsConfigDict(env_prefix="LATCHKEY_", env_file=None, extra="ignore")

    aws_region: str | None = Field(default=None, description="Region of Secrets Manager (else AWS_REGION)")
    aws_sm_endpoint: str | None = Field(default=None, description="Secrets Manager endpoint override")
    gcp_sm_endpoint: str | None = Field(
        default=None, description="host:port of a Secret Manager gRPC endpoint; set => plaintext, anonymous"
    )
    azure_kv_url: str = Field(
        default="https://{vault}.vault.azure.net",
        description="Vault URL template; {vault} is the first path segment of azure-kv://vault/secret",
    )
    azure_kv_verify_tls: bool = Field(
        default=True, description="Verify the vault's TLS certificate; False never outside a local test"
    )
    azure_kv_ca_file: str | None = Field(
        default=None,
        description="PEM bundle of the CAs to verify the vault's certificate with (a private CA, or an"
        " emulator's self-signed certificate); else the system's",
    )
    azure_kv_verify_challenge_resource: bool = Field(
        default=True,
        description="Check that the vault's auth challenge names a Key Vault resource; False only for an"
        " emulator",
    )
    azure_kv_api_version: str | None = Field(
        default=None,
        description="Key Vault REST API version to ask for (e.g. 2025-07-01 for an emulator that does not"
        " know the SDK's newest); else the SDK's default",
    )
    azure_kv_fake_credential: bool = Field(
        default=False, description="Use a static bearer token instead of azure-identity (emulators only)"
    )
    kubeconfig: str | None = Field(default=None, description="kubeconfig path; else KUBECONFIG / in-cluster")
    allow_env_secrets: bool = Field(default=True, description="Allow env:// references (development)")
    secret_timeout_s: float = Field(default=10.0, gt=0, description="Deadline of one secret fetch")


ProviderFactory = Callable[[SecretProviderSettings], SecretProvider]


def _aws(settings: SecretProviderSettings) -> SecretProvider:
    from latchkey.connector.secrets.aws import AwsSecretsManagerProvider

    return AwsSecretsManagerProvider(settings)


def _gcp(settings: SecretProviderSettings) -> SecretProvider:
    from latchkey.connector.secrets.gcp import GcpSecretManagerProvider

    return GcpSecretManagerProvider(settings)


def _azure(settings: SecretProviderSettings) -> SecretProvider:
    from latchkey.connector.secrets.azure import AzureKeyVaultProvider

    return AzureKeyVaultProvider(settings)


def _k8s(settings: SecretProviderSettings) -> SecretProvider:
    from latchkey.connector.secrets.kubernetes import KubernetesSecretProvider

    return KubernetesSecretProvider(settings)


def _env(settings: SecretProviderSettings) -> SecretProvider:
    from latchkey.connector.secrets.env import EnvironmentSecretProvider

    return EnvironmentSecretProvider(settings)


DEFAULT_PROVIDERS: dict[str, ProviderFactory] = {
    "aws-sm": _aws,
    "gcp-sm": _gcp,
    "azure-kv": _azure,
    "k8s": _k8s,
    "env": _env,
}


# SDK loggers that print whole response bodies at DEBUG, which for a secret store is the secret itself.
_BODY_LOGGERS = (
    "botocore.parsers",
    "botocore.endpoint",
    "botocore.httpchecksum",
    "kubernetes.client.rest",
    "azure.core.pipeline.policies.http_logging_policy",
    "urllib3.connectionpool",
)


class _DropSdkDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_SDK_FILTER = _DropSdkDebug()


def silence_sdk_body_logging() -> None:
    """Drop DEBUG records of the SDK loggers that dump response bodies, even if an operator enables DEBUG."""
    for name in _BODY_LOGGERS:
        sdk_logger = logging.getLogger(name)
        if _SDK_FILTER not in sdk_logger.filters:
            sdk_logger.addFilter(_SDK_FILTER)


class SecretResolver:
    """Fetches a secret for each use. Providers (SDK clients) are built on first use of their scheme."""

    def __init__(
        self,
        factories: dict[str, ProviderFactory] | None = None,
        settings: SecretProviderSettings | None = None,
    ) -> None:
        self._factories = dict(DEFAULT_PROVIDERS if factories is None else factories)
        self._settings = settings or SecretProviderSettings()
        self._providers: dict[str, SecretProvider] = {}
        self._lock = asyncio.Lock()
        silence_sdk_body_logging()

    @classmethod
    def default(cls, settings: SecretProviderSettings | None = None) -> SecretResolver:
        """A resolver that knows aws-sm://, gcp-sm://, azure-kv://, k8s:// and env://."""
        return cls(None, settings)

    @property
    def schemes(self) -> frozenset[str]:
        return frozenset(self._factories)

    async def fetch(self, ref: str) -> Secret:
        """Read the secret `ref` now (never from a cache). Raises SecretUnavailable, which never holds it."""
        parsed = SecretRef.parse(ref)
        provider = await self._provider(parsed)
        try:
            value = await asyncio.wait_for(provider.fetch(parsed), timeout=self._settings.secret_timeout_s)
        except SecretUnavailable:
            raise
        except TimeoutError:
            raise SecretUnavailable(ref, "the secret store did not answer in time", retryable=True) from None
        except Exception as exc:
            raise SecretUnavailable(ref, f"unexpected {type(exc).__name__} from the provider") from None
        if parsed.key is None:
            return Secret(value)
        return Secret(_json_field(value, parsed.key, ref))

    async def close(self) -> None:
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.close()

    async def _provider(self, ref: SecretRef) -> SecretProvider:
        factory = self._factories.get(ref.scheme)
        if factory is None:
            known = ", ".join(f"{s}://" for s in sorted(self._factories))
            # not the whole reference: what is not a known store's may be a URL with a password in it
            raise SecretUnavailable(f"{ref.scheme}://…", f"unknown scheme {ref.scheme!r}; known: {known}")
        async with self._lock:
            provider = self._providers.get(ref.scheme)
            if provider is None:
                try:
                    provider = factory(self._settings)
                except SecretUnavailable:
                    raise
                except Exception as exc:
                    raise SecretUnavailable(
                        ref.raw, f"cannot set up the {ref.scheme} provider: {type(exc).__name__}"
                    ) from None
                self._providers[ref.scheme] = provider
        return provider


def _json_field(value: str, key: str, ref: str) -> str:
    # `from None` everywhere: json errors carry the document, which is the secret.
    try:
        document = json.loads(value)
    except ValueError:
        raise SecretUnavailable(ref, f"the secret is not a JSON object, so it has no field {key!r}") from None
    if not isinstance(document, dict):
        raise SecretUnavailable(ref, f"the secret is not a JSON object, so it has no field {key!r}")
    if key not in document:
        raise SecretUnavailable(ref, f"the secret has no field {key!r}")
    field = document[key]
    return field if isinstance(field, str) else json.dumps(field)
