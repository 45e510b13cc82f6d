"""A local gRPC server implementing google.cloud.secretmanager.v1.SecretManagerService/AccessSecretVersion.

Messages are the client library's own proto-plus types, (de)serialised with their own codecs, so the
real `SecretManagerServiceClient` talks to it over a real gRPC channel.
"""

from __future__ import annotations

import re
import threading
from concurrent import futures

import grpc
from google.cloud.secretmanager_v1 import types

_SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
_VERSION = re.compile(r"^(projects/[^/]+/secrets/[^/]+)/versions/([^/]+)$")


class FakeSecretManager:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # secret name -> list of payloads; version n is index n-1
        self.secrets: dict[str, list[bytes]] = {}
        self.calls: list[str] = []
        self._server: grpc.Server | None = None
        self.port = 0

    def add_version(self, secret: str, payload: bytes) -> str:
        with self._lock:
            versions = self.secrets.setdefault(secret, [])
            versions.append(payload)
            return f"{secret}/versions/{len(versions)}"

    def _access(
        self, request: types.AccessSecretVersionRequest, context: grpc.ServicerContext
    ) -> types.AccessSecretVersionResponse:
        self.calls.append(request.name)
        match = _VERSION.match(request.name)
        if match is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"Invalid resource field value: {request.name}")
        secret, version = match.group(1), match.group(2)
        with self._lock:
            versions = self.secrets.get(secret)
            if not versions:
                context.abort(grpc.StatusCode.NOT_FOUND, f"Secret [{secret}] not found or has no versions.")
            index = len(versions) if version == "latest" else int(version) if version.isdigit() else 0
            if not 1 <= index <= len(versions):
                context.abort(grpc.StatusCode.NOT_FOUND, f"Secret Version [{request.name}] not found.")
            payload = versions[index - 1]
        return types.AccessSecretVersionResponse(
            name=f"{secret}/versions/{index}", payload=types.SecretPayload(data=payload)
        )

    def start(self) -> str:
        handler = grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "AccessSecretVersion": grpc.unary_unary_rpc_method_handler(
                    self._access,
                    request_deserializer=types.AccessSecretVersionRequest.deserialize,
                    response_serializer=types.AccessSecretVersionResponse.serialize,
                )
            },
        )
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers((handler,))
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
            self._server = None
