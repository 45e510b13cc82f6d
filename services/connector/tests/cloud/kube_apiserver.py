"""A real Kubernetes API server on 127.0.0.1 for the tests: kube-apiserver with an embedded etcd
(`deploy/local/kubernetes`, built from the Go module proxy).

It authenticates with a static token file: an administrator (group `system:masters`) that the tests
arrange and inspect the cluster with, and the connector's user, which holds only the RBAC that
docs/integrations-cloud.md and docs/secrets.md tell operators to give it (`CONNECTOR_RULES`).
Authorization is RBAC, so a rule those documents forget is a failing test.
"""

from __future__ import annotations

import secrets
import ssl
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from latchkey.runtime.testing.ports import free_port

from .emulators import EmulatorProcess, localhost_certificate

CONNECTOR_USER = "latchkey-connector"
RBAC = "rbac.authorization.k8s.io"

# The connector's documented RBAC: bindings it creates and deletes, what inventory lists, `bind` on the
# roles its templates hand out (Kubernetes refuses a binding to a role whose permissions the binder
# lacks, unless it may `bind` it), and `get` on the Secrets its references name.
CONNECTOR_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [RBAC],
        "resources": ["rolebindings", "clusterrolebindings"],
        "verbs": ["create", "get", "update", "delete"],
    },
    {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]},
    {"apiGroups": [RBAC], "resources": ["roles", "clusterroles"], "verbs": ["list"]},
    {"apiGroups": [RBAC], "resources": ["roles", "clusterroles"], "verbs": ["bind"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]},
]


def _write_keys(folder: Path) -> tuple[str, str, str]:
    """The serving certificate and its key, and the key that signs service-account tokens: their paths."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def write(path: Path, key: Any) -> str:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return str(path)

    key, _, cert_file = localhost_certificate(folder)
    signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return cert_file, write(folder / "server-key.pem", key), write(folder / "sa.key", signing_key)


class KubeApiServer(EmulatorProcess):
    name = "kube-apiserver"
    script = "kubernetes"
    ready_timeout_s = 120.0

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.port = free_port()
        self.admin_token = secrets.token_hex(16)
        self.connector_token = secrets.token_hex(16)
        self.stranger_token = secrets.token_hex(16)  # a user RBAC gives nothing
        self.ca_file = ""
        self.kubeconfig = ""  # the connector user's, once the fixture has written it
        self._admin: Any = None

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.build()
        self.ca_file, key_file, signing_file = _write_keys(self.folder)
        tokens = self.folder / "tokens.csv"
        tokens.write_text(
            f'{self.admin_token},latchkey-test-admin,admin,"system:masters"\n'
            f"{self.connector_token},{CONNECTOR_USER},connector\n"
            f"{self.stranger_token},stranger,stranger\n"
        )
        arguments = [
            f"--etcd-data-dir={self.folder / 'etcd'}",
            f"--etcd-client-url=http://127.0.0.1:{free_port()}",
            f"--etcd-peer-url=http://127.0.0.1:{free_port()}",
            "--",
            f"--secure-port={self.port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",  # a loopback address cannot be the kubernetes Service's
            f"--tls-cert-file={self.ca_file}",
            f"--tls-private-key-file={key_file}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={signing_file}",
            f"--service-account-signing-key-file={signing_file}",
            f"--token-auth-file={tokens}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
        ]
        context = ssl.create_default_context(cafile=self.ca_file)
        probe = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.admin_token}"}
        )

        def ready() -> bool:
            with urllib.request.urlopen(probe, context=context, timeout=2) as answer:
                # "ok" once etcd and RBAC's bootstrap roles are in; the default namespaces follow
                return bool(answer.read() == b"ok") and self._has_namespace("default")

        self.launch(arguments, ready)

    def _has_namespace(self, name: str) -> bool:
        from kubernetes.client.exceptions import ApiException

        try:
            self.core().read_namespace(name)
        except ApiException:
            return False
        return True

    def admin(self) -> Any:
        """An ApiClient acting as the administrator (one, kept until stop)."""
        if self._admin is None:
            from kubernetes import client

            configuration = client.Configuration()
            configuration.host = self.server
            configuration.ssl_ca_cert = self.ca_file
            configuration.api_key = {"authorization": f"Bearer {self.admin_token}"}
            self._admin = client.ApiClient(configuration)
        return self._admin

    def core(self) -> Any:
        """CoreV1Api as the administrator."""
        from kubernetes import client

        return client.CoreV1Api(self.admin())

    def rbac(self) -> Any:
        """RbacAuthorizationV1Api as the administrator."""
        from kubernetes import client

        return client.RbacAuthorizationV1Api(self.admin())

    def grant_connector_its_rbac(self) -> None:
        rbac = self.rbac()
        rbac.create_cluster_role({"metadata": {"name": CONNECTOR_USER}, "rules": CONNECTOR_RULES})
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": CONNECTOR_USER},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": CONNECTOR_USER},
                "subjects": [{"apiGroup": RBAC, "kind": "User", "name": CONNECTOR_USER}],
            }
        )

    def write_kubeconfig(self, path: Path, token: str) -> str:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {"server": self.server, "certificate-authority": self.ca_file},
                        }
                    ],
                    "users": [{"name": "user", "user": {"token": token}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "user"}}],
                    "current-context": "test",
                }
            )
        )
        return str(path)

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        super().stop()
