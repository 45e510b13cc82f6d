"""Cloud emulators for the secret-provider and cloud-integration tests, each started once per session.

- AWS: moto server (threaded, in this process) on 127.0.0.1, driven through boto3 over HTTP.
- Kubernetes: `fakes.kube_api` over HTTPS (a self-signed certificate the kubeconfig names as its
  certificate-authority), driven by the official `kubernetes` client through a kubeconfig.
- GCP Secret Manager: `fakes.gcp_secret_manager`, a gRPC server using the client library's types.
- Azure Key Vault: Lowkey Vault, built from third_party/lowkey-vault (`lowkey_vault.py`), over HTTPS
  with a certificate made for it. Without a JDK 25 to build it, the tests that need it are skipped
  with that reason, unless LATCHKEY_REQUIRE_LOWKEY_VAULT=1 (CI), which makes it a failure.
"""

from __future__ import annotations

import os
import secrets as random_tokens
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from latchkey.connector.integrations.base import AccessSpec
from latchkey.connector.secrets import SecretProviderSettings, SecretResolver
from latchkey.connector.templates import TemplateSet, parse_template
from latchkey.contracts import Principal

from .fakes.gcp_secret_manager import FakeSecretManager
from .fakes.http_api import self_signed_tls
from .fakes.kube_api import FakeKubernetesApi
from .lowkey_vault import LowkeyVault, LowkeyVaultUnavailable, required

_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


@dataclass(frozen=True)
class MotoServer:
    endpoint: str
    region: str = "us-east-1"

    def client(self, service: str) -> object:
        import boto3

        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in _AWS_ENV}
    # Credentials must exist for botocore to sign; moto accepts any. Never real ones in tests.
    os.environ.update(_AWS_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield MotoServer(endpoint=f"http://{host}:{port}")
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass(frozen=True)
class KubernetesFake:
    api: FakeKubernetesApi
    kubeconfig: str
    token: str
    ca_file: str  # the API server's self-signed certificate


@pytest.fixture(scope="session")
def kubernetes_fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubernetesFake]:
    token = random_tokens.token_hex(16)
    tls, ca_file = self_signed_tls(tmp_path_factory.mktemp("kube-tls"))
    api = FakeKubernetesApi(token, tls)  # HTTPS, verified by the clients against its own certificate
    server = api.start()
    for namespace in ("default", "payments", "kube-system"):
        api.put("namespaces", {"metadata": {"name": namespace}})
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "fake", "cluster": {"server": server, "certificate-authority": ca_file}}
                ],
                "users": [{"name": "latchkey", "user": {"token": token}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "latchkey"}}],
                "current-context": "fake",
            }
        )
    )
    try:
        yield KubernetesFake(api=api, kubeconfig=str(kubeconfig), token=token, ca_file=ca_file)
    finally:
        api.stop()


@pytest.fixture(scope="session")
def gcp_secret_manager() -> Iterator[FakeSecretManager]:
    fake = FakeSecretManager()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def key_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LowkeyVault]:
    vault = LowkeyVault(tmp_path_factory.mktemp("lowkey-vault"))
    try:
        vault.start()
    except LowkeyVaultUnavailable as exc:
        if required():
            pytest.fail(f"Lowkey Vault (required here) is unavailable: {exc}")
        pytest.skip(f"Lowkey Vault is unavailable: {exc}")
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture
def key_vault_if_available(request: pytest.FixtureRequest) -> LowkeyVault | None:
    """`key_vault`, or None where it cannot run: so that tests covering every provider keep covering the
    others there, and only the tests that name `key_vault` are skipped."""
    try:
        vault: LowkeyVault = request.getfixturevalue("key_vault")
    except pytest.skip.Exception:
        return None
    return vault


@pytest.fixture
def provider_settings(
    moto_server: MotoServer,
    kubernetes_fake: KubernetesFake,
    gcp_secret_manager: FakeSecretManager,
    key_vault_if_available: LowkeyVault | None,
) -> SecretProviderSettings:
    """Settings that point every secret provider at its emulator."""
    vault = key_vault_if_available
    return SecretProviderSettings(
        aws_region=moto_server.region,
        aws_sm_endpoint=moto_server.endpoint,
        gcp_sm_endpoint=f"127.0.0.1:{gcp_secret_manager.port}",
        # {vault} is the host: azure-kv://localhost/name reaches Lowkey Vault's vault for its own address.
        azure_kv_url=f"https://{{vault}}:{vault.port if vault else 9}",
        # TLS verified against the certificate made for the emulator. Only the challenge's resource check
        # is off: the SDK wants the vault's host under the resource's domain (x.vault.azure.net under
        # vault.azure.net), and Lowkey Vault's challenge names its own address, localhost:PORT.
        azure_kv_ca_file=vault.ca_file if vault else None,
        azure_kv_verify_challenge_resource=False,
        azure_kv_api_version=LowkeyVault.API_VERSION,
        azure_kv_fake_credential=True,
        kubeconfig=kubernetes_fake.kubeconfig,
        secret_timeout_s=5.0,
    )


@pytest.fixture
async def resolver(provider_settings: SecretProviderSettings) -> AsyncIterator[SecretResolver]:
    resolver = SecretResolver.default(provider_settings)
    try:
        yield resolver
    finally:
        await resolver.close()


def unique(prefix: str) -> str:
    """A name no other test uses (the emulators live for the whole session)."""
    return f"{prefix}-{random_tokens.token_hex(4)}"


@pytest.fixture
def canary() -> str:
    """A secret value unique to this test, so finding it anywhere it should not be is unambiguous."""
    return f"canary-{random_tokens.token_urlsafe(24)}"


TEMPLATES_ROOT = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture(scope="session")
def cloud_templates() -> TemplateSet:
    """The shipped templates of the four cloud integration types, each checked by its integration."""
    from latchkey.connector.integrations import REGISTRY, load_builtin_integrations

    load_builtin_integrations()
    found = TemplateSet()
    for kind in ("aws", "kubernetes", "gcp", "azure"):
        for path in sorted((TEMPLATES_ROOT / kind).glob("*.yaml")):
            template = parse_template(path.read_text(encoding="utf-8"), str(path))
            assert (template.integration, template.name) == (kind, path.stem), path
            REGISTRY[kind].validate_operations(template)
            found.add(template)
    return found


def access_for(
    templates: TemplateSet,
    kind: str,
    name: str,
    parameters: dict[str, str],
    *,
    resource: str = "",
    user_id: str = "00u1alice",
    email: str | None = "alice@example.com",
    grant_id: str | None = None,
) -> AccessSpec:
    """The AccessSpec the connector core would build for one validated command."""
    template = templates.get(kind, name)
    assert template is not None, f"{kind}/{name} not shipped"
    return AccessSpec(
        grant_id=grant_id or str(uuid.uuid4()),
        template=template,
        resource=resource,
        parameters=template.bind(parameters),
        principal=Principal(user_id=user_id, email=email),
        expires_at=None,
        requester_public_key=None,
    )
