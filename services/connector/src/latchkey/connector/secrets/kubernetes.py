"""`k8s://namespace/name/key`: one key of a Kubernetes Secret through the official client.

Authenticates with the in-cluster service account when running in a pod, else the kubeconfig
(`LATCHKEY_KUBECONFIG` or `KUBECONFIG`). The service account needs `get` on that one Secret only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Any

from latchkey.connector.secrets import (
    SecretProviderSettings,
    SecretRef,
    SecretUnavailable,
    certificate_refused,
)


def kubernetes_api_client(kubeconfig: str | None) -> Any:
    """An ApiClient from the kubeconfig if one is given or found, else from the pod's service account."""
    import os

    from kubernetes import client, config

    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        return config.new_client_from_config(config_file=path)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return client.ApiClient(configuration)
    return config.new_client_from_config()  # ~/.kube/config


class KubernetesSecretProvider:
    def __init__(self, settings: SecretProviderSettings) -> None:
        from kubernetes import client

        self._api_client = kubernetes_api_client(settings.kubeconfig)
        self._core = client.CoreV1Api(self._api_client)
        self._timeout = settings.secret_timeout_s

    async def fetch(self, ref: SecretRef) -> str:
        return await asyncio.to_thread(self._fetch, ref)

    def _fetch(self, ref: SecretRef) -> str:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        parts = ref.path.split("/")
        if len(parts) != 3 or not all(parts):
            raise SecretUnavailable(ref.raw, "expected k8s://namespace/name/key")
        namespace, name, key = parts
        try:
            secret = self._core.read_namespaced_secret(name, namespace, _request_timeout=self._timeout)
        except ApiException as exc:
            # Never quote exc.body: keep the status only.
            retryable = exc.status in (429, 500, 502, 503, 504)
            raise SecretUnavailable(
                ref.raw, f"the Kubernetes API answered {exc.status} {exc.reason}", retryable=retryable
            ) from None
        except HTTPError as exc:
            if certificate_refused(exc):
                raise SecretUnavailable(
                    ref.raw,
                    "the Kubernetes API's TLS certificate is not trusted (the kubeconfig's"
                    " certificate-authority)",
                    retryable=True,
                ) from None
            raise SecretUnavailable(
                ref.raw, f"cannot reach the Kubernetes API: {type(exc).__name__}", retryable=True
            ) from None
        data = secret.data or {}
        if key not in data:
            raise SecretUnavailable(ref.raw, f"Secret {namespace}/{name} has no key {key!r}")
        try:
            return base64.b64decode(data[key], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SecretUnavailable(ref.raw, f"key {key!r} is not base64-encoded UTF-8 text") from None

    async def close(self) -> None:
        await asyncio.to_thread(self._api_client.close)
