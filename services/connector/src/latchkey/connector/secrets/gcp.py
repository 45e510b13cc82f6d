"""`gcp-sm://projects/P/secrets/S/versions/V[#key]`: GCP Secret Manager through its client library.

Authenticates with Application Default Credentials (workload identity on GKE, the metadata server
on GCE). `LATCHKEY_GCP_SM_ENDPOINT=host:port` talks plaintext gRPC without credentials to a local
emulator instead.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from latchkey.connector.secrets import SecretProviderSettings, SecretRef, SecretUnavailable

_NAME = re.compile(r"^projects/[^/]+/secrets/[^/]+/versions/[^/]+$")


class GcpSecretManagerProvider:
    def __init__(self, settings: SecretProviderSettings) -> None:
        from google.cloud import secretmanager_v1

        self._timeout = settings.secret_timeout_s
        if settings.gcp_sm_endpoint:
            import grpc
            from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
                SecretManagerServiceGrpcTransport,
            )

            channel = grpc.insecure_channel(settings.gcp_sm_endpoint)
            self._client: Any = secretmanager_v1.SecretManagerServiceClient(
                transport=SecretManagerServiceGrpcTransport(channel=channel)
            )
        else:
            self._client = secretmanager_v1.SecretManagerServiceClient()

    async def fetch(self, ref: SecretRef) -> str:
        if not _NAME.match(ref.path):
            raise SecretUnavailable(ref.raw, "expected gcp-sm://projects/P/secrets/S/versions/V")
        return await asyncio.to_thread(self._fetch, ref)

    def _fetch(self, ref: SecretRef) -> str:
        from google.api_core import exceptions

        try:
            response = self._client.access_secret_version(name=ref.path, timeout=self._timeout, retry=None)
        except exceptions.GoogleAPICallError as exc:
            retryable = isinstance(
                exc, exceptions.ServiceUnavailable | exceptions.DeadlineExceeded | exceptions.TooManyRequests
            )
            status = exc.grpc_status_code.name if exc.grpc_status_code is not None else type(exc).__name__
            raise SecretUnavailable(
                ref.raw, f"Secret Manager answered {status}", retryable=retryable
            ) from None
        except exceptions.GoogleAPIError as exc:
            raise SecretUnavailable(
                ref.raw, f"cannot use Secret Manager: {type(exc).__name__}", retryable=True
            ) from None
        try:
            return bytes(response.payload.data).decode("utf-8")
        except UnicodeDecodeError:
            raise SecretUnavailable(ref.raw, "the secret payload is not UTF-8 text") from None

    async def close(self) -> None:
        await asyncio.to_thread(self._client.transport.close)
