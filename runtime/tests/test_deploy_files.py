"""docker-compose.yml, the Dockerfile, the OTel collector config and the Helm chart stay consistent.

Uses the real tools where present (`docker compose config`, `helm lint/template`); otherwise
checks the parsed files, so the structural checks always run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from latchkey.runtime.testing.infra import helm_binary

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
OTEL = ROOT / "deploy" / "docker" / "otel-collector.yaml"
CHART = ROOT / "deploy" / "helm" / "latchkey"
CI_VALUES = CHART / "ci" / "test-values.yaml"  # what an install must name (the connector's trusted key)
SERVICES = {  # compose service / image target -> Python module
    "identity-sync": "latchkey.identity_sync",
    "flow-engine": "latchkey.flow_engine",
    "connector": "latchkey.connector",
    "expiry": "latchkey.expiry",
}


def _docker_compose_available() -> bool:
    if not shutil.which("docker"):
        return False
    r = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return r.returncode == 0


def load_compose() -> dict[str, Any]:
    """The effective compose model: from `docker compose config` when the plugin is installed
    (it needs no engine), else the YAML with anchors/merge keys resolved by PyYAML."""
    if _docker_compose_available():
        r = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE), "config", "--format", "json"],
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        assert r.returncode == 0, f"docker compose config failed:\n{r.stderr}"
        return json.loads(r.stdout)
    return yaml.safe_load(COMPOSE.read_text())


def _test_command(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test", [])
    return " ".join(test if isinstance(test, list) else [test])


def _volume_specs(service: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) for short ("a:b:ro") and long (dict) volume syntax."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            parts = v.split(":")
            out.append((parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
        else:
            out.append((str(v.get("source")), str(v.get("target")), bool(v.get("read_only"))))
    return out


def compose_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    services = doc.get("services", {})
    for required in ("kafka", "postgres", "otel-collector", *SERVICES):
        if required not in services:
            problems.append(f"service {required} missing")
    if not str(services.get("kafka", {}).get("image", "")).startswith("apache/kafka:4."):
        problems.append("kafka must use the apache/kafka 4.x image (KRaft)")
    if not str(services.get("postgres", {}).get("image", "")).startswith("postgres:16"):
        problems.append("postgres must use postgres:16")
    for name, module in SERVICES.items():
        svc = services.get(name, {})
        env = svc.get("environment", {})
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        if env.get("LATCHKEY_KAFKA_BOOTSTRAP") != "kafka:9092":
            problems.append(f"{name}: LATCHKEY_KAFKA_BOOTSTRAP must be kafka:9092")
        if name != "connector" and not str(env.get("LATCHKEY_DATABASE_URL", "")).startswith(
            "postgresql+psycopg://latchkey:latchkey@postgres:5432/"
        ):
            problems.append(f"{name}: LATCHKEY_DATABASE_URL must point at the postgres service")
        if f"python -m {module} health" not in _test_command(svc):
            problems.append(f"{name}: healthcheck must run python -m {module} health")
        build = svc.get("build", {})
        if build.get("target") != name:
            problems.append(f"{name}: build target must be {name}")
    connector = services.get("connector", {})
    if "container_name" in connector:
        problems.append("connector must not set container_name (breaks --scale)")
    if "LATCHKEY_DATABASE_URL" in (connector.get("environment") or {}):
        problems.append("connector must not get the control plane's database")
    config_path = (connector.get("environment") or {}).get("LATCHKEY_CONFIG_PATH")
    mounts = {t: ro for _, t, ro in _volume_specs(connector)}
    if not config_path or not any(
        ro and (config_path == t or config_path.startswith(t.rstrip("/") + "/")) for t, ro in mounts.items()
    ):
        problems.append("connector must mount its connector.yaml (LATCHKEY_CONFIG_PATH) read-only")
    otel = services.get("otel-collector", {})
    if not str(otel.get("image", "")).startswith("otel/opentelemetry-collector"):
        problems.append("otel-collector image")
    if not any(Path(s).name == "otel-collector.yaml" for s, _, _ in _volume_specs(otel)):
        problems.append("otel-collector must mount deploy/docker/otel-collector.yaml")
    return problems


def test_compose_file_is_valid_and_complete() -> None:
    assert compose_problems(load_compose()) == []


def test_compose_checks_can_fail() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    doc["services"]["connector"]["container_name"] = "connector"
    doc["services"]["connector"]["volumes"] = ["./deploy/docker/connector.yaml:/etc/latchkey/connector.yaml"]
    del doc["services"]["expiry"]
    problems = compose_problems(doc)
    assert any("container_name" in p for p in problems)
    assert any("read-only" in p for p in problems)
    assert any("expiry missing" in p for p in problems)


def _stages() -> dict[str, list[str]]:
    """Dockerfile stage name -> its lines (parent stage in the FROM line)."""
    stages: dict[str, list[str]] = {}
    current = None
    for line in DOCKERFILE.read_text().splitlines():
        m = re.match(r"^FROM\s+\S+\s+AS\s+(\S+)", line, re.I)
        if m:
            current = m.group(1)
            stages[current] = [line]
        elif current:
            stages[current].append(line)
    return stages


def test_dockerfile_targets_run_each_service_as_non_root() -> None:
    stages = _stages()
    runtime = "\n".join(stages["runtime"])
    user = re.search(r"^USER\s+(\S+)", runtime, re.M)
    assert user and user.group(1).split(":")[0] not in ("root", "0")
    for name, module in SERVICES.items():
        assert name in stages, f"no Dockerfile target {name}"
        body = "\n".join(stages[name])
        assert re.match(r"FROM runtime AS", stages[name][0]), (
            f"{name} must build on the non-root runtime stage"
        )
        assert f'CMD ["python", "-m", "{module}"]' in body
        assert f"--from=build-{name} /app/.venv" in body
        build = "\n".join(stages[f"build-{name}"])
        package = "latchkey-" + name
        assert f"uv sync --frozen --no-dev --no-editable --package {package}" in build
        assert (ROOT / "services" / name / "pyproject.toml").is_file()
    # Every COPY of a member's manifest names a real file (a rename would break the image build).
    for src in re.findall(r"^COPY (\S+/pyproject\.toml)", DOCKERFILE.read_text(), re.M):
        assert (ROOT / src).is_file(), src


def test_otel_collector_pipelines_reference_defined_components() -> None:
    cfg = yaml.safe_load(OTEL.read_text())
    assert "4317" in cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    for name, pipe in cfg["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for comp in pipe.get(kind, []):
                assert comp in cfg[kind], f"pipeline {name} uses undefined {kind[:-1]} {comp}"


def _render(helm: str, *args: str) -> list[dict[str, Any]]:
    r = subprocess.run(
        [helm, "template", "lk", str(CHART), "-f", str(CI_VALUES), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def _deployment(docs: list[dict[str, Any]], component: str) -> dict[str, Any]:
    return next(
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["labels"]["app.kubernetes.io/component"] == component
    )


@pytest.mark.skipif(
    helm_binary() is None, reason="helm not installed (`make setup` builds it: deploy/helm/check --install)"
)
def test_helm_chart_lints_and_renders_replicas() -> None:
    helm = helm_binary()
    assert helm
    lint = subprocess.run(
        [helm, "lint", "--strict", str(CHART), "-f", str(CI_VALUES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

    docs = _render(helm)
    assert {c for c in SERVICES} == {
        d["metadata"]["labels"]["app.kubernetes.io/component"] for d in docs if d["kind"] == "Deployment"
    }
    assert _deployment(docs, "connector")["spec"]["replicas"] == 2  # HA by default
    for name, module in SERVICES.items():
        pod = _deployment(docs, name)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        assert container["readinessProbe"]["exec"]["command"] == ["python", "-m", module, "health"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        env = {e["name"] for e in container["env"]}
        # Only the control plane gets the database, and only through a Secret reference.
        assert ("LATCHKEY_DATABASE_URL" in env) == (name != "connector")
    # No Kubernetes RBAC unless asked for (connector.kubernetesRbac; exercised against a real API
    # server in services/connector/tests/cloud/test_kubernetes_integration.py)
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")]

    docs = _render(helm, "--set", "connector.replicaCount=5")
    assert _deployment(docs, "connector")["spec"]["replicas"] == 5
    volumes = _deployment(docs, "connector")["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("configMap") for v in volumes)
