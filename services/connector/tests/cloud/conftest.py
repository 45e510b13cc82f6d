"""Cloud emulators for the secret-provider and cloud-integration tests, each started once.

- AWS: moto server (threaded, in this process) on 127.0.0.1, driven through boto3 over HTTP.
- Kubernetes: a real kube-apiserver with an embedded etcd, built from the Go module proxy
  (`kube_apiserver.py`), over HTTPS with a certificate the kubeconfig names as its
  certificate-authority; RBAC on, and the connector's user holds only its documented rules.
- GCP Secret Manager: `fakes.gcp_secret_manager`, a gRPC server using the client library's types.
- Azure Key Vault: Lowkey Vault, built from third_party/lowkey-vault (`lowkey_vault.py`), over HTTPS
  with a certificate made for it.
kube-apiserver and Lowkey Vault are built once per machine (`make test` or `make emulators`; else
by their fixture). Where one cannot be built or started (no Go, no JDK 25), the tests that need it are
skipped with that reason, unless LATCHKEY_REQUIRE_EMULATORS=1 (CI), which makes it a failure.
"""

from __future__ import annotations

import os
import secrets as random_tokens
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from latchkey.connector.integrations.base import AccessSpec
from latchkey.connector.secrets import SecretProviderSettings, SecretResolver
from latchkey.connector.templates import TemplateSet, parse_template
from latchkey.contracts import Principal

from .emulators import EmulatorProcess, EmulatorUnavailable, required
from .fakes.gcp_secret_manager import FakeSecretManager
from .kube_apiserver import KubeApiServer
from .lowkey_vault import LowkeyVault

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


def _started(emulator: EmulatorProcess) -> None:
    try:
        emulator.start()
    except EmulatorUnavailable as exc:
        if required():
            pytest.fail(f"{emulator.name} (required here) is unavailable: {exc}")
        pytest.skip(f"{emulator.name} is unavailable: {exc}")


def _if_available(request: pytest.FixtureRequest, fixture: str) -> Any:
    """That fixture's value, or None where its emulator cannot run: so that tests covering every provider
    keep covering the others there, and only the tests that name the fixture are skipped."""
    try:
        return request.getfixturevalue(fixture)
    except pytest.skip.Exception:
        return None


@pytest.fixture(scope="package")  # stopped once the cloud tests are done
def kubernetes_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    """The API server, with namespaces default, kube-system and payments, the connector's RBAC, and
    `kubeconfig`: the connector's user (its static token), which the secret provider reads with."""
    cluster = KubeApiServer(tmp_path_factory.mktemp("kube-apiserver"))
    _started(cluster)
    try:
        cluster.core().create_namespace({"metadata": {"name": "payments"}})
        cluster.grant_connector_its_rbac()
        cluster.kubeconfig = cluster.write_kubeconfig(cluster.folder / "kubeconfig", cluster.connector_token)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def kubernetes_if_available(request: pytest.FixtureRequest) -> KubeApiServer | None:
    return _if_available(request, "kubernetes_cluster")  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def gcp_secret_manager() -> Iterator[FakeSecretManager]:
    fake = FakeSecretManager()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="package")  # stopped once the cloud tests are done
def key_vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LowkeyVault]:
    vault = LowkeyVault(tmp_path_factory.mktemp("lowkey-vault"))
    _started(vault)
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture
def key_vault_if_available(request: pytest.FixtureRequest) -> LowkeyVault | None:
    return _if_available(request, "key_vault")  # type: ignore[no-any-return]


@pytest.fixture
def provider_settings(
    moto_server: MotoServer,
    gcp_secret_manager: FakeSecretManager,
    kubernetes_if_available: KubeApiServer | None,
    key_vault_if_available: LowkeyVault | None,
    tmp_path: Path,
) -> SecretProviderSettings:
    """Settings that point every secret provider at its emulator (one that cannot run here: at a closed
    port, so the settings are still complete and a fetch there fails as unreachable)."""
    vault, cluster = key_vault_if_available, kubernetes_if_available
    if cluster:
        kubeconfig = cluster.kubeconfig
    else:
        kubeconfig = str(tmp_path / "unreachable-kubeconfig")
        Path(kubeconfig).write_text(
            yaml.safe_dump(
                {
                    "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                    "users": [{"name": "none", "user": {"token": "none"}}],
                    "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                    "current-context": "none",
                }
            )
        )
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
        kubeconfig=kubeconfig,
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
