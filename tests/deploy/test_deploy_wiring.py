"""What docker-compose.yml, the Dockerfile and the Helm chart hand each service is what the service
reads: every `LATCHKEY_*` variable they set is a setting of that service, with a value it accepts;
flow-engine gets a signing key and the connector a configuration that loads, trusting that key.

The structural checks of these files are in runtime/tests/test_deploy_files.py; these load the
services' own settings classes and configuration loader, so a renamed setting or a configuration
the connector would refuse at startup fails here instead of in a user's `docker compose up`.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from latchkey.connector.app import apply_kafka_config
from latchkey.connector.config import load_config
from latchkey.connector.secrets import SecretProviderSettings
from latchkey.connector.settings import ConnectorSettings
from latchkey.expiry.settings import ExpirySettings
from latchkey.flow_engine.settings import FlowEngineSettings
from latchkey.identity_sync.settings import IdentitySyncSettings
from latchkey.runtime.signing import public_key_of
from latchkey.runtime.testing.infra import helm_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
CHART = ROOT / "deploy" / "helm" / "latchkey"
SETTINGS: dict[str, list[type[BaseSettings]]] = {  # what each service reads from its environment
    "identity-sync": [IdentitySyncSettings],
    "flow-engine": [FlowEngineSettings],
    "connector": [ConnectorSettings, SecretProviderSettings],
    "expiry": [ExpirySettings],
}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?])?([^}]*)\}")


def _known(service: str) -> set[str]:
    names = set()
    for settings in SETTINGS[service]:
        prefix = str(settings.model_config.get("env_prefix", ""))
        names |= {f"{prefix}{field}".upper() for field in settings.model_fields}
    return names


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def _compose_env(service: str) -> dict[str, str]:
    """The service's environment as compose passes it when the user sets only what compose demands
    (`${VAR:?...}`: a value of the right shape), defaults (`${VAR:-x}`) taken."""
    env = _compose()["services"][service].get("environment", {})
    demanded = {"LATCHKEY_OIDC_ISSUER": "https://idp.example.com"}

    def resolve(match: re.Match[str]) -> str:
        name, rest = match.group(1), match.group(2)
        return demanded.get(name, rest if "?" not in match.group(0) else "") or rest

    return {k: _INTERPOLATION.sub(resolve, str(v)) for k, v in env.items()}


def _mounts(service: str) -> dict[str, str]:
    """container path -> source (volume name or host path, resolved) of a compose service."""
    out = {}
    for spec in _compose()["services"][service].get("volumes", []):
        source, target = spec.split(":")[:2]
        out[target] = str((ROOT / source).resolve()) if source.startswith(".") else source
    return out


def _under(path: str, mounts: dict[str, str]) -> tuple[str, str] | None:
    """(mount point, source) of the mount `path` lies in."""
    for target, source in mounts.items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            return target, source
    return None


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_compose_sets_only_settings_the_service_reads_with_values_it_accepts(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _compose_env(service)
    unknown = {k for k in env if k.startswith("LATCHKEY_")} - _known(service)
    assert not unknown, f"{service}: docker-compose.yml sets {sorted(unknown)}, which it never reads"
    for name in list(os.environ):
        if name.startswith("LATCHKEY_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for settings in SETTINGS[service]:
        settings()  # raises on a value the service refuses


def test_dockerfile_sets_only_settings_the_service_reads() -> None:
    stage = None
    for line in DOCKERFILE.read_text().splitlines():
        found = re.match(r"^FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if found:
            stage = found.group(1)
        for name in re.findall(r"\b(LATCHKEY_\w+)=", line) if line.startswith("ENV") else []:
            assert stage in SETTINGS, f"{name} set in stage {stage}, which runs no service"
            assert name in _known(stage), f"Dockerfile stage {stage} sets {name}, which {stage} never reads"


def _keygen(private: Path, public: Path) -> str:
    """The `keys` service's command (docker-compose.yml); returns what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "latchkey.flow_engine", "keygen", "--private-key-file", str(private),
         "--public-key-file", str(public)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return done.stdout


def test_compose_gives_flow_engine_a_signing_key_and_the_connector_its_public_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The `keys` service writes the signing key into the volume only flow-engine mounts and the
    public key into the one the connector mounts; both services load what they are given."""
    services = _compose()["services"]
    keys_command = " ".join(services["keys"]["command"])
    private_at = re.search(r"--private-key-file (\S+)", keys_command)
    public_at = re.search(r"--public-key-file (\S+)", keys_command)
    assert private_at and public_at
    keys_mounts = _mounts("keys")
    private_volume = _under(private_at.group(1), keys_mounts)
    public_volume = _under(public_at.group(1), keys_mounts)
    assert private_volume and public_volume and private_volume[1] != public_volume[1]

    # What the keys service does, in a stand-in for each volume (run twice: the key is kept).
    volumes = {private_volume[1]: tmp_path / "private", public_volume[1]: tmp_path / "public"}
    for folder in volumes.values():
        folder.mkdir()
    private_file = volumes[private_volume[1]] / Path(private_at.group(1)).name
    public_file = volumes[public_volume[1]] / Path(public_at.group(1)).name
    first = _keygen(private_file, public_file)
    assert _keygen(private_file, public_file).splitlines()[-1] == first.splitlines()[-1]
    assert private_file.read_text().strip() not in first, "the signing key is never printed"
    assert private_file.stat().st_mode & 0o077 == 0, "the signing key file is private"

    # flow-engine reads the signing key from its volume...
    flow_env = _compose_env("flow-engine")
    key_path = flow_env["LATCHKEY_SIGNING_KEY_FILE"]
    mount = _under(key_path, _mounts("flow-engine"))
    assert mount and mount[1] == private_volume[1]
    monkeypatch.setenv("LATCHKEY_SIGNING_KEY_FILE", str(volumes[mount[1]] / Path(key_path).name))
    signing_key = FlowEngineSettings().private_key()

    # ...and the connector, which never mounts it, trusts the public key in its configuration.
    connector_mounts = _mounts("connector")
    assert private_volume[1] not in connector_mounts.values(), "the connector must not see the signing key"
    config_path = _compose_env("connector")["LATCHKEY_CONFIG_PATH"]
    config_source = Path(connector_mounts[config_path])
    etc = tmp_path / "etc"
    etc.mkdir()
    text = config_source.read_text()
    for target, source in connector_mounts.items():
        if source in volumes:  # the public key's volume
            text = text.replace(target, str(volumes[source]))
        elif Path(source).is_dir() and target.startswith(str(Path(config_path).parent)):
            (etc / Path(target).relative_to(Path(config_path).parent)).symlink_to(source)
    (etc / "connector.yaml").write_text(text)
    config = load_config(etc / "connector.yaml")
    assert {public_key_of(signing_key)} == {
        base64.b64encode(k.public_bytes_raw()).decode() for k in config.public_keys.values()
    }
    assert config.integrations, "the compose connector serves an integration"


def _render(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm, "template", "lk", str(CHART), *args], capture_output=True, text=True, check=False, timeout=120
    )


@pytest.mark.skipif(
    helm_binary() is None, reason="helm not installed (`make setup` builds it: deploy/helm/check --install)"
)
def test_helm_chart_wiring(tmp_path: Path) -> None:
    helm = helm_binary()
    assert helm
    private = tmp_path / "signing.key"
    public = tmp_path / "control-plane.pub"
    _keygen(private, public)
    key = f"connector.controlPlaneKeys.default={public.read_text().strip()}"
    issuer = "flowEngine.oidc.issuer=https://idp.example.com"
    # What an install must name, or it fails saying what is missing: a connector trusting no key
    # refuses every command, and a flow-engine trusting no IdP decides no request.
    for given, missing in ((issuer, "connector.controlPlaneKeys"), (key, "flowEngine.oidc.issuer")):
        refused = _render(helm, "--set", given)
        assert refused.returncode != 0 and missing in refused.stderr, refused.stderr

    rendered = _render(helm, "--set", key, "--set", issuer)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == "Deployment"
    }
    assert set(deployments) == set(SETTINGS)
    for service, deployment in deployments.items():
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        names = {e["name"] for e in container["env"]} | {
            e["name"] for e in container.get("envFrom", []) if "name" in e
        }
        unknown = {n for n in names if n.startswith("LATCHKEY_")} - _known(service)
        assert not unknown, f"the chart gives {service} {sorted(unknown)}, which it never reads"
        # Kubernetes restarts a pod whose liveness fails: only a dead process should, not an outage
        # of Kafka or the database (readiness covers those).
        assert container["livenessProbe"]["exec"]["command"][-2:] == ["--path", "/livez"]
        assert "--path" not in container["readinessProbe"]["exec"]["command"]
    flow_env = {
        e["name"]: e for e in deployments["flow-engine"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert "secretKeyRef" in flow_env["LATCHKEY_SIGNING_KEY"]["valueFrom"], (
        "the signing key comes from a Secret"
    )
    assert flow_env["LATCHKEY_OIDC_ISSUER"]["value"] == "https://idp.example.com"

    # The connector's ConfigMap, laid out as the pod mounts it, is a configuration that loads.
    _, config_path = _connector_as_mounted(docs, tmp_path / "etc")
    config = load_config(config_path)
    assert len(config.public_keys) == 1 and config.integrations


def _connector_as_mounted(docs: list[dict[str, Any]], etc: Path) -> tuple[dict[str, str], Path]:
    """The connector Deployment's plain environment variables, and its ConfigMap written into `etc` as
    the pod mounts it: (env, path of connector.yaml)."""
    deployment = next(
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["labels"]["app.kubernetes.io/component"] == "connector"
    )
    connector = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in connector["containers"][0]["env"] if "value" in e}
    mount = next(m for m in connector["containers"][0]["volumeMounts"] if m["name"] == "config")
    volume = next(v for v in connector["volumes"] if v["name"] == "config")
    configmap = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == volume["configMap"]["name"]
    )
    for item in volume["configMap"]["items"]:
        target = etc / item["path"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(configmap["data"][item["key"]])
    return env, etc / Path(env["LATCHKEY_CONFIG_PATH"]).relative_to(mount["mountPath"])


@pytest.mark.skipif(
    helm_binary() is None, reason="helm not installed (`make setup` builds it: deploy/helm/check --install)"
)
def test_helm_leaves_connector_yaml_kafka_section_in_force_unless_the_values_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment wins over connector.yaml's `kafka:` section, so the chart sets
    LATCHKEY_TOPIC_PREFIX / LATCHKEY_KAFKA_BOOTSTRAP only for a value it was given: the connector
    then resolves its prefix and bootstrap from connector.yaml, or from the chart when both say."""
    helm = helm_binary()
    assert helm
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "connector": {
                    "config": "connector_id: acme\n"
                    "kafka: {bootstrap: 'kafka.acme.internal:9093', topic_prefix: acme.}\n"
                    "integrations: [{id: noop, type: noop, templates: [access]}]\n"
                }
            }
        )
    )
    control_plane_off = "identitySync.enabled=false,flowEngine.enabled=false,expiry.enabled=false"

    def connector_settings(*sets: str) -> ConnectorSettings:
        """What the connector pod resolves: the rendered environment, then connector.yaml."""
        rendered = _render(helm, "-f", str(CHART / "ci" / "test-values.yaml"), "-f", str(values), *sets)
        assert rendered.returncode == 0, rendered.stderr
        etc = tmp_path / f"etc{len(list(tmp_path.iterdir()))}"
        env, config_path = _connector_as_mounted([d for d in yaml.safe_load_all(rendered.stdout) if d], etc)
        for name in list(os.environ):
            if name.startswith("LATCHKEY_"):
                monkeypatch.delenv(name)
        for name, value in {**env, "LATCHKEY_CONFIG_PATH": str(config_path)}.items():
            monkeypatch.setenv(name, value)
        return apply_kafka_config(ConnectorSettings(), load_config(config_path))

    # Default values: no prefix given, so connector.yaml's applies; the chart's bootstrap wins.
    settings = connector_settings()
    assert (settings.topic_prefix, settings.kafka_bootstrap) == ("acme.", "kafka:9092")
    # A prefix given to the chart wins over connector.yaml's.
    assert connector_settings("--set", "kafka.topicPrefix=prod.").topic_prefix == "prod."
    # A connector-only install with no bootstrap value takes connector.yaml's.
    settings = connector_settings("--set", f"kafka.bootstrap=,{control_plane_off}")
    assert (settings.topic_prefix, settings.kafka_bootstrap) == ("acme.", "kafka.acme.internal:9093")
    # The control-plane services have no connector.yaml: without a bootstrap the chart refuses them.
    refused = _render(helm, "-f", str(CHART / "ci" / "test-values.yaml"), "--set", "kafka.bootstrap=")
    assert refused.returncode != 0 and "kafka.bootstrap: name the Kafka bootstrap servers" in refused.stderr
