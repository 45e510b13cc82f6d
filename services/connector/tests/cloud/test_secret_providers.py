"""Each secret provider against an emulator that speaks its store's real protocol, via the official SDK."""

from __future__ import annotations

import base64
import json
import logging
import pickle
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from latchkey.connector.secrets import (
    Secret,
    SecretProviderSettings,
    SecretResolver,
    SecretUnavailable,
)

from .conftest import MotoServer, unique
from .fakes.gcp_secret_manager import FakeSecretManager
from .kube_apiserver import KubeApiServer
from .lowkey_vault import LowkeyVault


async def refusal(settings: SecretProviderSettings, ref: str) -> SecretUnavailable:
    """The error a fresh resolver with these settings refuses `ref` with."""
    resolver = SecretResolver.default(settings)
    try:
        with pytest.raises(SecretUnavailable) as refused:
            await resolver.fetch(ref)
    finally:
        await resolver.close()
    return refused.value


def test_secret_never_shows_its_value() -> None:
    secret = Secret("hunter2-value")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret} {secret!r} {secret:>20}"
    assert "hunter2" not in repr({"password": secret})
    assert secret.reveal() == "hunter2-value"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


async def test_aws_secrets_manager_secret_is_read_through_boto3(
    moto_server: MotoServer, resolver: SecretResolver, canary: str
) -> None:
    name = unique("latchkey/appdb")
    sm = moto_server.client("secretsmanager")
    sm.create_secret(Name=name, SecretString=json.dumps({"username": "latchkey", "password": canary}))  # type: ignore[attr-defined]

    assert (await resolver.fetch(f"aws-sm://{name}#password")).reveal() == canary
    assert json.loads((await resolver.fetch(f"aws-sm://{name}")).reveal())["username"] == "latchkey"


async def test_aws_secret_is_fetched_per_use_never_cached(
    moto_server: MotoServer, resolver: SecretResolver
) -> None:
    name = unique("rotating")
    sm = moto_server.client("secretsmanager")
    sm.create_secret(Name=name, SecretString="first")  # type: ignore[attr-defined]
    assert (await resolver.fetch(f"aws-sm://{name}")).reveal() == "first"
    sm.put_secret_value(SecretId=name, SecretString="second")  # type: ignore[attr-defined]
    assert (await resolver.fetch(f"aws-sm://{name}")).reveal() == "second"


async def test_missing_aws_secret_names_ref_and_reason(resolver: SecretResolver) -> None:
    with pytest.raises(SecretUnavailable) as caught:
        await resolver.fetch("aws-sm://does-not-exist")
    assert "aws-sm://does-not-exist" in str(caught.value)
    assert "ResourceNotFoundException" in str(caught.value)


async def test_kubernetes_secret_key_is_read_through_the_kubernetes_client(
    kubernetes_cluster: KubeApiServer,
    resolver: SecretResolver,
    provider_settings: SecretProviderSettings,
    canary: str,
    tmp_path: Path,
) -> None:
    name = unique("db-credentials")
    encoded = base64.b64encode(canary.encode()).decode()
    kubernetes_cluster.core().create_namespaced_secret(
        "payments", {"metadata": {"name": name}, "type": "Opaque", "data": {"password": encoded}}
    )
    assert (await resolver.fetch(f"k8s://payments/{name}/password")).reveal() == canary

    with pytest.raises(SecretUnavailable, match="has no key 'user'"):
        await resolver.fetch(f"k8s://payments/{name}/user")
    with pytest.raises(SecretUnavailable, match="404"):
        await resolver.fetch("k8s://payments/absent/password")

    # An identity the cluster knows but RBAC gives nothing is refused, and the reason says so.
    stranger = kubernetes_cluster.write_kubeconfig(tmp_path / "stranger", kubernetes_cluster.stranger_token)
    forbidden = await refusal(
        provider_settings.model_copy(update={"kubeconfig": stranger}), f"k8s://payments/{name}/password"
    )
    assert "403 Forbidden" in str(forbidden) and canary not in str(forbidden)


async def test_gcp_secret_manager_version_is_read_over_grpc(
    gcp_secret_manager: FakeSecretManager, resolver: SecretResolver, canary: str
) -> None:
    secret = f"projects/acme-prod/secrets/{unique('appdb')}"
    version = gcp_secret_manager.add_version(secret, canary.encode())
    assert (await resolver.fetch(f"gcp-sm://{version}")).reveal() == canary
    gcp_secret_manager.add_version(secret, b"newer")
    assert (await resolver.fetch(f"gcp-sm://{secret}/versions/latest")).reveal() == "newer"
    assert gcp_secret_manager.calls[-1] == f"{secret}/versions/latest"

    with pytest.raises(SecretUnavailable, match="NOT_FOUND"):
        await resolver.fetch("gcp-sm://projects/acme-prod/secrets/absent/versions/1")
    with pytest.raises(SecretUnavailable, match="expected gcp-sm://projects/P/secrets/S/versions/V"):
        await resolver.fetch("gcp-sm://acme-prod/absent")


async def test_azure_key_vault_secret_is_read_through_azure_keyvault_secrets(
    key_vault: LowkeyVault, resolver: SecretResolver, canary: str
) -> None:
    name = unique("appdb-password")
    key_vault.set_secret(name, canary)
    # Lowkey Vault, like Key Vault, answers a request without a token with the bearer challenge, which
    # names the resource to get a token for; the SDK follows it and sends the token.
    context = ssl.create_default_context(cafile=key_vault.ca_file)
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{key_vault.vault_url}/secrets/{name}?api-version=7.4", context=context)
    assert anonymous.value.code == 401
    assert f'resource="{key_vault.vault_url}"' in anonymous.value.headers["WWW-Authenticate"]
    assert (await resolver.fetch(f"azure-kv://localhost/{name}")).reveal() == canary

    key_vault.set_secret(name, canary + "-rotated")  # each fetch reads the latest version, nothing cached
    assert (await resolver.fetch(f"azure-kv://localhost/{name}")).reveal() == canary + "-rotated"
    with pytest.raises(SecretUnavailable, match="404"):
        await resolver.fetch("azure-kv://localhost/absent")


async def test_azure_key_vault_with_managed_identity_through_default_azure_credential(
    key_vault: LowkeyVault,
    provider_settings: SecretProviderSettings,
    canary: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The production credential path: no static token, azure-identity's DefaultAzureCredential finds a
    managed identity (App Service's IDENTITY_ENDPOINT protocol, served by Lowkey Vault's token endpoint),
    gets a token for the resource the vault's challenge named, and reads the secret with it."""
    name = unique("appdb-password")
    key_vault.set_secret(name, canary)
    for other in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(other, raising=False)  # no other credential for DefaultAzureCredential to take
    monkeypatch.setenv("IDENTITY_ENDPOINT", key_vault.token_endpoint)
    monkeypatch.setenv("IDENTITY_HEADER", "latchkey-test")
    issued_before = key_vault.log_file.read_text().count("Returning token")
    production_credential = provider_settings.model_copy(update={"azure_kv_fake_credential": False})
    resolver = SecretResolver.default(production_credential)
    try:
        assert (await resolver.fetch(f"azure-kv://localhost/{name}")).reveal() == canary
    finally:
        await resolver.close()
    issued = key_vault.log_file.read_text().split("Returning token")[issued_before + 1 :]
    assert len(issued) == 1  # one token, asked for the vault's own resource
    assert issued[0].startswith(f": TokenResponse[resource={key_vault.vault_url},")


async def test_kubernetes_api_certificate_is_verified(
    kubernetes_cluster: KubeApiServer, provider_settings: SecretProviderSettings, tmp_path: Path
) -> None:
    """The API server's certificate is verified against the kubeconfig's certificate-authority: a
    kubeconfig without it (so the system's CAs, which do not know the server's self-signed certificate)
    gets no secret, and says why."""
    config = yaml.safe_load(Path(kubernetes_cluster.kubeconfig).read_text())
    del config["clusters"][0]["cluster"]["certificate-authority"]
    untrusting_kubeconfig = tmp_path / "config"
    untrusting_kubeconfig.write_text(yaml.safe_dump(config))
    refused = await refusal(
        provider_settings.model_copy(update={"kubeconfig": str(untrusting_kubeconfig)}),
        "k8s://payments/any/password",
    )
    assert "TLS certificate is not trusted" in str(refused)


async def test_azure_key_vault_certificate_is_verified(
    key_vault: LowkeyVault, provider_settings: SecretProviderSettings, canary: str
) -> None:
    """TLS to the vault is verified: against the system's CAs by default, which do not know the
    emulator's self-signed certificate, so the fetch is refused; with that certificate as the CA bundle
    (`azure_kv_ca_file`) the same fetch succeeds."""
    name = unique("appdb-password")
    key_vault.set_secret(name, canary)
    refused = await refusal(
        provider_settings.model_copy(update={"azure_kv_ca_file": None}), f"azure-kv://localhost/{name}"
    )
    assert "TLS certificate is not trusted" in str(refused) and canary not in str(refused)
    trusting = SecretResolver.default(provider_settings)
    try:
        assert (await trusting.fetch(f"azure-kv://localhost/{name}")).reveal() == canary
    finally:
        await trusting.close()


async def test_env_secret_warns_once_that_it_is_for_development(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, resolver: SecretResolver, canary: str
) -> None:
    from latchkey.connector.secrets import env

    monkeypatch.setattr(env, "_warned", False)  # other tests in this process may have used env:// already
    monkeypatch.setenv("LATCHKEY_TEST_DB_PASSWORD", canary)
    with caplog.at_level(logging.WARNING):
        assert (await resolver.fetch("env://LATCHKEY_TEST_DB_PASSWORD")).reveal() == canary
        assert (await resolver.fetch("env://LATCHKEY_TEST_DB_PASSWORD")).reveal() == canary
        await SecretResolver.default().fetch(
            "env://LATCHKEY_TEST_DB_PASSWORD"
        )  # another resolver, same process
    warnings = [r for r in caplog.records if "development only" in r.getMessage()]
    assert len(warnings) == 1
    assert canary not in caplog.text


async def test_env_secrets_can_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LATCHKEY_TEST_DB_PASSWORD", "x")
    resolver = SecretResolver.default(SecretProviderSettings(allow_env_secrets=False))
    with pytest.raises(SecretUnavailable, match="disabled"):
        await resolver.fetch("env://LATCHKEY_TEST_DB_PASSWORD")


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("vault://x", "unknown scheme 'vault'"),
        ("postgresql://latchkey:S3cretPw@db.internal/appdb", "unknown scheme 'postgresql'"),
        ("plain-text-password", "not a secret reference"),
        ("k8s://only/two", "expected k8s://namespace/name/key"),
        ("azure-kv://vault", "expected azure-kv://vault/secret"),
    ],
)
async def test_malformed_refs_are_refused_with_a_reason(
    resolver: SecretResolver, ref: str, reason: str
) -> None:
    with pytest.raises(SecretUnavailable, match=reason) as caught:
        await resolver.fetch(ref)
    if "://" not in ref:  # maybe a value pasted where a reference belongs: never echoed
        assert ref not in str(caught.value)
    assert "S3cretPw" not in str(caught.value), "a URL with a password is not repeated"


async def test_providers_are_built_only_when_their_scheme_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []

    class Recorder:
        async def fetch(self, ref: object) -> str:
            return "v"

        async def close(self) -> None:
            return None

    def factory(settings: SecretProviderSettings) -> Recorder:
        built.append("aws-sm")
        return Recorder()

    resolver = SecretResolver({"aws-sm": factory, "k8s": lambda s: pytest.fail("k8s built")})  # type: ignore[dict-item]
    assert built == []
    await resolver.fetch("aws-sm://a")
    await resolver.fetch("aws-sm://b")
    assert built == ["aws-sm"]


async def test_a_store_that_does_not_answer_is_a_retryable_unavailability() -> None:
    import asyncio

    class Hanging:
        async def fetch(self, ref: object) -> str:
            await asyncio.sleep(30)
            return "never"

        async def close(self) -> None:
            return None

    resolver = SecretResolver({"aws-sm": lambda s: Hanging()}, SecretProviderSettings(secret_timeout_s=0.1))  # type: ignore[dict-item]
    with pytest.raises(SecretUnavailable, match="did not answer in time") as caught:
        await resolver.fetch("aws-sm://slow")
    assert caught.value.retryable is True
