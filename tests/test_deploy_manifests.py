"""Deployment manifests: offline validation and the topology contract (deploy/README.md).

No Docker engine or cluster is needed. The compose file is checked with `check-jsonschema`
against the compose specification, and the Kubernetes manifests with `kubernetes-validate
--strict`, both from this interpreter's venv. Deliberately broken copies must fail, so the checks
are known to work. The rest is plain PyYAML: which processes exist, who waits for whom, who
publishes a port, and which database each process may reach.
"""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
PG_INIT = ROOT / "deploy" / "postgres" / "init"
K8S_VERSION = "1.31.0"

SERVICES = ("training", "evaluation", "finance", "awards", "indicators")
PRODUCERS = ("training", "evaluation", "finance", "awards")
DATABASES = (*SERVICES, "eventlog")
WEB = (*SERVICES, "gateway")
UVICORN_FLAGS = [
    "--factory", "--host", "0.0.0.0", "--port", "8000",  # noqa: S104 (the container's bind address)
    "--loop", "uvloop", "--http", "httptools", "--no-access-log",
]  # fmt: skip


# --- helpers ---------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """A console script installed in the same venv as the running interpreter."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(
            f"{name} is not installed next to {sys.executable}: run `uv sync --all-packages`"
        )
    return str(path)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(path))


def _validate_k8s(*paths: Path) -> subprocess.CompletedProcess[str]:
    return _run(
        _tool("kubernetes-validate"), "--strict", "--no-warn", "-k", K8S_VERSION,
        *map(str, paths),
    )  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _kustomize_resources() -> list[Path]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    return [K8S / name for name in kustomization["resources"]]


def _k8s_objects() -> Iterator[dict[str, Any]]:
    for path in _kustomize_resources():
        yield from (doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc)


@pytest.fixture(scope="module")
def k8s() -> dict[tuple[str, str], dict[str, Any]]:
    return {(obj["kind"], obj["metadata"]["name"]): obj for obj in _k8s_objects()}


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    return container


def _secret_keys(container: dict[str, Any]) -> set[str]:
    return {
        env["valueFrom"]["secretKeyRef"]["key"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }


def _workspace_members() -> dict[str, Path]:
    """Import name -> member directory, from the root pyproject's workspace globs."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    members: dict[str, Path] = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for directory in sorted(ROOT.glob(pattern)):
            pyproject = directory / "pyproject.toml"
            if pyproject.is_file():
                dist = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
                members[dist.removeprefix("dinghai-")] = directory
    return members


# --- (a) compose validates against the compose specification, and the check can fail -------------


def test_compose_file_matches_compose_spec() -> None:
    result = _check_compose(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param(
            "condition: service_completed_successfully",
            "condition: service_finished",
            id="invalid-depends-on-condition",
        ),
        pytest.param("  postgres:\n    image:", "  postgres:\n    imagee:", id="unknown-key"),
    ],
)
def test_compose_check_rejects_a_broken_copy(tmp_path: Path, old: str, new: str) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = _check_compose(broken)
    assert result.returncode != 0, result.stdout


# --- (b) Kubernetes manifests validate strictly, and the check can fail -----------------------


def test_kustomization_lists_every_manifest_but_the_secret_example() -> None:
    listed = {path.name for path in _kustomize_resources()}
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert "secret.example.yaml" not in listed
    assert listed == on_disk - {"secret.example.yaml"}
    expected = {f"{name}.yaml" for name in (*WEB, "eventlog", "namespace", "configmap")}
    assert expected <= listed


def test_k8s_manifests_validate_strictly() -> None:
    result = _validate_k8s(*_kustomize_resources(), K8S / "secret.example.yaml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "ERROR" not in output


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("replicas: 2", 'replicas: "two"', id="replicas-not-integer"),
        pytest.param(
            "revisionHistoryLimit: 5", "revisionHistoryLimt: 5", id="unknown-field-strict"
        ),
    ],
)
def test_k8s_validation_rejects_a_broken_copy(tmp_path: Path, old: str, new: str) -> None:
    text = (K8S / "training.yaml").read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "training.yaml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    result = _validate_k8s(broken)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "did not validate" in result.stdout + result.stderr


# --- (c) compose topology ----------------------------------------------------------------------


def test_compose_defines_every_process(services: dict[str, dict[str, Any]]) -> None:
    for name in WEB:
        web = services[name]
        assert web["build"]["args"]["SERVICE"] == name
        assert "command" not in web, "web containers run the image's uvicorn command"
        assert "/readyz" in " ".join(web["healthcheck"]["test"])
    for name in PRODUCERS:
        relay = services[f"relay-{name}"]
        assert relay["build"]["args"]["SERVICE"] == name
        assert relay["command"] == ["python", "-m", name, "relay"]
    consumer = services["indicators-consumer"]
    assert consumer["build"]["args"]["SERVICE"] == "indicators"
    assert consumer["command"] == ["python", "-m", "indicators", "consume"]
    for name in SERVICES:
        assert services[f"migrate-{name}"]["command"] == ["python", "-m", name, "migrate"]
    assert services["migrate-eventlog"]["command"] == [
        "python", "-m", "common.eventlog", "migrate",
    ]  # fmt: skip
    for name in ("postgres", "nats", "redis"):
        assert name in services
    assert services["postgres"]["image"] == "postgres:16"
    assert "-js" in services["nats"]["command"]


def test_dockerfile_default_command_is_the_uvicorn_contract() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG SERVICE$", text, re.MULTILINE)
    assert 'uvicorn \\"${SERVICE}.main:create_app\\" ' + " ".join(UVICORN_FLAGS) in text
    assert "COPY --chown=root:root policy /app/policy" in text
    assert re.search(r"^WORKDIR /app$", text, re.MULTILINE)
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert "HEALTHCHECK" in text and "/healthz" in text


def test_only_the_gateway_publishes_a_port(services: dict[str, dict[str, Any]]) -> None:
    published = {name for name, svc in services.items() if svc.get("ports")}
    assert published == {"gateway"}
    (mapping,) = services["gateway"]["ports"]
    assert str(mapping).endswith(":8000")


def test_migration_jobs_run_once_after_postgres(services: dict[str, dict[str, Any]]) -> None:
    for db in DATABASES:
        job = services[f"migrate-{db}"]
        assert job["restart"] == "no"
        assert job["depends_on"] == {"postgres": {"condition": "service_healthy"}}


def test_start_order_waits_for_migrations(services: dict[str, dict[str, Any]]) -> None:
    waiting = {
        **{name: name for name in SERVICES},
        **{f"relay-{name}": name for name in PRODUCERS},
        "indicators-consumer": "indicators",
    }
    for process, owner in waiting.items():
        deps = services[process]["depends_on"]
        assert deps["postgres"] == {"condition": "service_healthy"}, process
        for job in (f"migrate-{owner}", "migrate-eventlog"):
            assert deps[job] == {"condition": "service_completed_successfully"}, process
    gateway_deps = services["gateway"]["depends_on"]
    assert gateway_deps == {name: {"condition": "service_healthy"} for name in SERVICES}


def test_each_process_reaches_only_its_own_database(services: dict[str, dict[str, Any]]) -> None:
    """A service owns its tables: no container is given another service's database URL."""
    for process, svc in services.items():
        env = svc.get("environment") or {}
        urls = {key for key in env if key.endswith("_DATABASE_URL")}
        owner = svc.get("build", {}).get("args", {}).get("SERVICE")
        if process in ("migrate-eventlog", "gateway") or owner is None:
            assert urls == set(), process
            continue
        assert urls == {f"{owner.upper()}_DATABASE_URL"}, process
        assert env[f"{owner.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/{owner}")
        assert env["DINGHAI_EVENTLOG_URL"].endswith("@postgres:5432/eventlog")
        assert env["DINGHAI_EMBEDDED_WORKERS"] == "false"
        assert env["DINGHAI_AUTH_JWKS_URL"] == "http://gateway:8000/.well-known/jwks.json"


def test_gateway_configuration(compose: dict[str, Any]) -> None:
    gateway = compose["services"]["gateway"]
    env = gateway["environment"]
    for name in SERVICES:
        assert env[f"GATEWAY_{name.upper()}_URL"] == f"http://{name}:8000"
    assert env["GATEWAY_SIGNING_KEY_PATH"] == "/run/secrets/gateway_signing_key"
    # Without a JWKS URL a development gateway writes var/dev-jwks.json: read-only filesystem.
    assert env["DINGHAI_AUTH_JWKS_URL"] == "http://gateway:8000/.well-known/jwks.json"
    # Citizen tokens carry sub = person_key: the gateway must hash with the services' pepper.
    assert env["DINGHAI_PII_PEPPER"] == compose["x-service-env"]["DINGHAI_PII_PEPPER"]
    assert gateway["secrets"] == ["gateway_signing_key"]
    secret = compose["secrets"]["gateway_signing_key"]
    assert secret == {"file": "./var/secrets/gateway-signing-key.json"}


def test_compose_secrets_have_obviously_fake_defaults() -> None:
    defaults = dict(re.findall(r"\$\{(\w+):-([^}]*)\}", COMPOSE.read_text(encoding="utf-8")))
    for var in ("DINGHAI_PII_PEPPER", "POSTGRES_PASSWORD"):
        assert "dev" in defaults[var], var
    field_key = base64.b64decode(defaults["DINGHAI_PII_FIELD_KEY"], validate=True)
    assert len(field_key) == 16
    assert b"dev" in field_key


def test_postgres_init_creates_every_database() -> None:
    sql = " ".join(path.read_text(encoding="utf-8") for path in sorted(PG_INIT.glob("*.sql")))
    created = set(re.findall(r"CREATE DATABASE (\w+);", sql))
    assert created == set(DATABASES)


# --- (d) the Dockerfile's SERVICE values are workspace members -------------------------------


def test_dockerfile_service_args_are_workspace_members(
    services: dict[str, dict[str, Any]],
) -> None:
    members = _workspace_members()
    used = {svc["build"]["args"]["SERVICE"] for svc in services.values() if "build" in svc}
    assert used == set(WEB)
    for name in used:
        assert name in members, f"{name} is not a workspace member"
        assert (members[name] / "src" / name).is_dir(), f"{members[name]} has no src/{name}"
        assert services[name]["build"]["dockerfile"] == "deploy/docker/Dockerfile"


def test_dockerfile_copies_every_member_pyproject() -> None:
    """`uv sync --frozen` needs every workspace member's metadata before the sources arrive."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    for directory in _workspace_members().values():
        rel = directory.relative_to(ROOT).as_posix()
        assert f"COPY {rel}/pyproject.toml {rel}/pyproject.toml" in text, rel


# --- Kubernetes topology -----------------------------------------------------------------------


def test_k8s_web_deployments(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    for name in WEB:
        deployment = k8s["Deployment", name]
        assert deployment["spec"]["replicas"] == 2
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["enableServiceLinks"] is False
        container = _container(deployment)
        assert container["image"].startswith(f"dinghai/{name}:")
        assert container["args"] == ["uvicorn", f"{name}.main:create_app", *UVICORN_FLAGS]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert {"requests", "limits"} <= container["resources"].keys()
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"configMapRef": {"name": "dinghai-config"}} in container["envFrom"]
        service = k8s["Service", name]
        assert (
            service["spec"]["selector"].items()
            <= deployment["spec"]["template"]["metadata"]["labels"].items()
        )
        assert service["spec"]["ports"][0]["port"] == 8000
        hpa = k8s["HorizontalPodAutoscaler", name]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
    assert ("PodDisruptionBudget", "gateway") in k8s


def test_k8s_jobs_relays_and_consumer(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    jobs = {name for kind, name in k8s if kind == "Job"}
    assert jobs == {f"migrate-{db}" for db in DATABASES}
    for name in SERVICES:
        assert _container(k8s["Job", f"migrate-{name}"])["args"] == [
            "python", "-m", name, "migrate",
        ]  # fmt: skip
    assert _container(k8s["Job", "migrate-eventlog"])["args"] == [
        "python", "-m", "common.eventlog", "migrate",
    ]  # fmt: skip
    for name in PRODUCERS:
        relay = k8s["Deployment", f"relay-{name}"]
        assert 1 <= relay["spec"]["replicas"] <= 2
        assert _container(relay)["args"] == ["python", "-m", name, "relay"]
    consumer = k8s["Deployment", "indicators-consumer"]
    assert _container(consumer)["args"] == ["python", "-m", "indicators", "consume"]


def _cores(quantity: str) -> float:
    """A Kubernetes CPU quantity ("2", "500m") in cores."""
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_k8s_cpu_limits_let_imports_and_the_catch_up_run_at_full_speed(
    k8s: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """An evaluation pod may use a core per import worker process, and the indicators consumer
    a core per process (two with its reading process, ADR 0007): below that the pod is
    throttled exactly when an import or its catch-up needs the CPU."""
    from evaluation.settings import EvaluationSettings
    from indicators.settings import IndicatorsSettings

    workers = EvaluationSettings.model_fields["import_processes"].default
    evaluation = _container(k8s["Deployment", "evaluation"])
    settings = [e["name"] for e in evaluation.get("env", [])]
    settings += list(k8s["ConfigMap", "dinghai-config"]["data"])
    assert "EVALUATION_IMPORT_PROCESSES" not in settings  # the default applies
    assert _cores(evaluation["resources"]["limits"]["cpu"]) >= workers
    consumer = _container(k8s["Deployment", "indicators-consumer"])
    settings = [e["name"] for e in consumer.get("env", [])]
    assert "INDICATORS_CONSUMER_READ_PROCESS" not in settings  # the default applies
    reading = IndicatorsSettings.model_fields["consumer_read_process"].default
    assert _cores(consumer["resources"]["limits"]["cpu"]) >= 1 + int(reading)


def test_k8s_secrets_are_referenced_not_stored(k8s: dict[tuple[str, str], dict[str, Any]]) -> None:
    assert not [key for key in k8s if key[0] == "Secret"], "Secrets must not be in kustomization"
    examples = list(yaml.safe_load_all((K8S / "secret.example.yaml").read_text(encoding="utf-8")))
    example_keys = {key for doc in examples for key in doc["stringData"]}
    for doc in examples:
        assert all("REPLACE-ME" in value for value in doc["stringData"].values())
    for (kind, name), obj in k8s.items():
        if kind not in ("Deployment", "Job"):
            continue
        keys = _secret_keys(_container(obj))
        assert keys <= example_keys, name
        urls = {key for key in keys if key.endswith("_DATABASE_URL")}
        image_member = _container(obj)["image"].split("/")[1].split(":")[0]
        if name in ("gateway", "migrate-eventlog"):
            assert urls == set(), name
        else:
            assert urls == {f"{image_member.upper()}_DATABASE_URL"}, name
