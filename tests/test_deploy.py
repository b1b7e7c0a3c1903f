"""The deployment files: the image, compose, Prometheus and Grafana, the Kubernetes example, the
wheel smoke script and the licence.

Everything is checked by reading the files; nothing here needs Docker, a cluster or a network.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
K8S = ROOT / "deploy" / "kubernetes"
DASHBOARD = DOCKER / "grafana" / "dashboards" / "stats-gateway.json"
SMOKE = ROOT / "deploy" / "smoke-wheel.sh"

SERVE_ARGV = ["stats-gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]

# The gateway's Prometheus metrics (binding names): label -> allowed values (None: any value).
METRICS: dict[str, dict[str, frozenset[str] | None]] = {
    "stats_gateway_operations_total": {"outcome": frozenset({"ok", "partial", "error"})},
    "stats_gateway_operation_duration_seconds": {},
    "stats_gateway_cache_lookups_total": {
        "source": frozenset({"ERAS", "FIGSHARE", "RESPONSE"}),
        "result": frozenset({"hit", "miss", "stale", "coalesced"}),
    },
    "stats_gateway_upstream_requests_total": {
        "source": frozenset({"ERAS", "FIGSHARE"}),
        "outcome": frozenset({"2xx", "3xx", "4xx", "5xx", "timeout", "connect_error"}),
    },
    "stats_gateway_upstream_request_duration_seconds": {"source": frozenset({"ERAS", "FIGSHARE"})},
    "stats_gateway_circuit_open": {"source": frozenset({"ERAS", "FIGSHARE"})},
    "stats_gateway_upstream_retries_total": {"source": frozenset({"ERAS", "FIGSHARE"})},
    "stats_gateway_budget_refusals_total": {},
}
HISTOGRAMS = frozenset(
    {"stats_gateway_operation_duration_seconds", "stats_gateway_upstream_request_duration_seconds"}
)
# Labels Prometheus adds to every scraped series.
TARGET_LABELS: dict[str, frozenset[str] | None] = {"instance": None, "job": None}


def _series_names() -> dict[str, str]:
    """Every series name the dashboard may use -> the metric it belongs to."""
    names = {name: name for name in METRICS if name not in HISTOGRAMS}
    for name in HISTOGRAMS:
        names.update({f"{name}{suffix}": name for suffix in ("_bucket", "_sum", "_count")})
    return names


SERIES = _series_names()


# --- Dockerfile -----------------------------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name or self.base} has no {keyword}"
        return found[-1]


def _dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comment lines left out."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = pending + line
        pending = ""
        keyword, _, args = logical.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def _dockerfile() -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with ``${ARG}`` resolved in each FROM."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, rest in _dockerfile_instructions((DOCKER / "Dockerfile").read_text()):
        if keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=base, name=name))
        elif stages:
            stages[-1].instructions.append((keyword, rest))
        elif keyword == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
    return args, stages


def _exec_form(args: str) -> list[str]:
    """The JSON array of an exec-form instruction; fails on shell form."""
    assert args.startswith("["), f"not in exec form: {args}"
    value = json.loads(args)
    assert isinstance(value, list)
    assert all(isinstance(word, str) for word in value)
    return [str(word) for word in value]


def _env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for args in stage.all("ENV"):
        for pair in shlex.split(args):
            key, sep, value = pair.partition("=")
            assert sep, f"ENV without '=': {pair}"
            env[key] = value
    return env


def _python_c_code(argv: list[str]) -> str:
    """The program of ``python -c PROGRAM`` in a command; it must compile."""
    assert argv[:2] == ["python", "-c"], argv
    code = argv[2]
    compile(code, "<healthcheck>", "exec")
    return code


def _image_uid() -> int:
    _, stages = _dockerfile()
    user = stages[-1].last("USER")
    match = re.fullmatch(r"(\d+):(\d+)", user)
    assert match, f"USER is not a numeric uid:gid: {user}"
    return int(match.group(1))


def test_image_is_built_in_a_builder_stage_and_installs_only_wheels() -> None:
    args, stages = _dockerfile()
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder.name == "builder"
    assert builder.base == runtime.base == "python:3.11-slim"
    assert args["PYTHON_IMAGE"] == "python:3.11-slim"

    builder_runs = " ".join(builder.all("RUN"))
    assert "pip wheel --no-deps --wheel-dir /wheels ." in builder_runs
    assert re.search(r"pip wheel --wheel-dir /wheels /wheels/stats_gateway-\*\.whl", builder_runs)

    runtime_runs = " ".join(runtime.all("RUN"))
    assert "--mount=type=bind,from=builder,source=/wheels,target=/wheels" in runtime_runs
    assert "--no-index" in runtime_runs
    assert "--no-cache-dir" in runtime_runs
    # Nothing of the source tree, and no compiler, reaches the runtime stage.
    assert runtime.all("COPY") == []
    assert not re.search(r"apt-get|gcc|build-essential", runtime_runs)


def test_image_sources_exist_and_are_not_ignored() -> None:
    _, stages = _dockerfile()
    ignored = _dockerignore()
    sources = [src for stage in stages for copy in stage.all("COPY") for src in copy.split()[:-1]]
    assert set(sources) == {"pyproject.toml", "README.md", "gateway"}
    for source in sources:
        assert (ROOT / source).exists(), source
        assert source not in ignored


def _dockerignore() -> set[str]:
    """The patterns of docker/Dockerfile.dockerignore, with a leading ``**/`` taken off."""
    lines = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    return {line.strip().removeprefix("**/") for line in lines if line.strip() and not line.startswith("#")}


def test_build_context_leaves_out_local_and_development_files() -> None:
    assert {".venv", ".git", "node_modules", "tests", "bench", "__pycache__", ".env"} <= _dockerignore()


def test_image_runs_as_a_fixed_numeric_non_root_user_without_a_login_shell() -> None:
    _, stages = _dockerfile()
    uid = _image_uid()
    assert uid >= 1000
    assert stages[-1].last("USER") == f"{uid}:{uid}"
    runs = " ".join(stages[-1].all("RUN"))
    assert f"groupadd --system --gid {uid} " in runs
    assert f"useradd --system --uid {uid} " in runs
    assert "--shell /usr/sbin/nologin" in runs


def test_image_healthcheck_asks_healthz_with_python_and_a_short_timeout() -> None:
    _, stages = _dockerfile()
    healthcheck = stages[-1].last("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    assert "--timeout=" in options
    code = _python_c_code(_exec_form(command.strip()))
    assert "urllib.request" in code
    assert "http://127.0.0.1:8000/healthz" in code
    assert "/readyz" not in code
    assert re.search(r"timeout=\d", code)


def test_image_serves_on_8000_in_exec_form_and_stops_on_sigterm() -> None:
    _, stages = _dockerfile()
    runtime = stages[-1]
    argv = _exec_form(runtime.last("ENTRYPOINT")) + (
        _exec_form(runtime.last("CMD")) if runtime.all("CMD") else []
    )
    assert argv == SERVE_ARGV
    assert runtime.last("EXPOSE") == "8000"
    assert runtime.last("STOPSIGNAL") == "SIGTERM"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert argv[0] in scripts


def test_image_environment() -> None:
    _, stages = _dockerfile()
    env = _env(stages[-1])
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["GATEWAY_WORKERS"] == "1"


# --- compose --------------------------------------------------------------------------------------


def _yaml_file(path: Path) -> dict[str, Any]:
    value = yaml.safe_load(path.read_text())
    assert isinstance(value, dict), path
    return value


def _compose() -> dict[str, Any]:
    return _yaml_file(DOCKER / "compose.yaml")


def _gateway_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    return {
        name: service
        for name, service in services.items()
        if service.get("build", {}).get("dockerfile") == "docker/Dockerfile"
    }


def _flag_values(argv: list[str]) -> dict[str, str]:
    """``--flag value`` pairs of an argument list."""
    return {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert match, duration
    return int(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2)]


def test_compose_runs_two_gateway_replicas_on_one_redis() -> None:
    compose = _compose()
    gateways = _gateway_services(compose)
    assert len(gateways) == 2
    secrets = set()
    for name, service in gateways.items():
        assert "profiles" not in service, name
        env = service["environment"]
        assert env["GATEWAY_CACHE_URL"] == "redis://redis:6379/0"
        # From the deployer's environment, refusing to start without it; never a literal secret.
        assert re.fullmatch(r"\$\{GATEWAY_CACHE_SECRET:\?[^}]+\}", env["GATEWAY_CACHE_SECRET"])
        secrets.add(env["GATEWAY_CACHE_SECRET"])
        assert "GATEWAY_WORKERS" in env
        assert service["depends_on"] == {"redis": {"condition": "service_started"}}
        assert _seconds(service["stop_grace_period"]) >= 10
        assert service.get("stop_signal", "SIGTERM") == "SIGTERM"
    assert len(secrets) == 1
    published = [port.split(":")[0] for service in gateways.values() for port in service["ports"]]
    assert len(set(published)) == 2
    example = (DOCKER / ".env.example").read_text()
    assert re.search(r"^GATEWAY_CACHE_SECRET=replace-", example, re.MULTILINE)


def test_compose_redis_is_a_bounded_lru_cache_with_nothing_on_disk() -> None:
    redis = _compose()["services"]["redis"]
    command: list[str] = redis["command"]
    assert command[0] == "redis-server"
    flags = _flag_values(command)
    assert flags["--maxmemory"] == "256mb"
    assert flags["--maxmemory-policy"] == "allkeys-lru"
    assert flags["--save"] == ""
    assert flags["--appendonly"] == "no"


def test_compose_replica_health_is_liveness_on_healthz_not_readyz() -> None:
    for name, service in _gateway_services(_compose()).items():
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", name
        code = _python_c_code(test[1:])
        assert "http://127.0.0.1:8000/healthz" in code, name
        assert "/readyz" not in code, name


def _bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path (relative to docker/) of a service's bind mounts."""
    mounts: dict[str, Path] = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (DOCKER / source).resolve()
    return mounts


def test_monitoring_profile_scrapes_metrics_of_both_replicas() -> None:
    compose = _compose()
    services = compose["services"]
    monitoring = {name for name, service in services.items() if "monitoring" in service.get("profiles", [])}
    assert monitoring == {"prometheus", "grafana"}

    mounts = _bind_mounts(services["prometheus"])
    config_path = mounts["/etc/prometheus/prometheus.yml"]
    assert config_path == DOCKER / "prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    config = _yaml_file(config_path)
    targets = set()
    for job in config["scrape_configs"]:
        assert job.get("metrics_path", "/metrics") == "/metrics"
        for static in job["static_configs"]:
            targets.update(static["targets"])
    assert targets == {f"{name}:8000" for name in _gateway_services(compose)}


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    services = _compose()["services"]
    mounts = _bind_mounts(services["grafana"])
    for host_path in mounts.values():
        assert host_path.exists(), host_path

    datasources = _yaml_file(mounts["/etc/grafana/provisioning/datasources"] / "prometheus.yaml")
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in services

    providers = _yaml_file(mounts["/etc/grafana/provisioning/dashboards"] / "stats-gateway.yaml")
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    dashboards_dir = mounts[provider["options"]["path"]]
    assert (dashboards_dir / DASHBOARD.name).resolve() == DASHBOARD.resolve()
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{provider['options']['path']}/{DASHBOARD.name}"


# --- Grafana dashboard ----------------------------------------------------------------------------


def _dashboard() -> dict[str, Any]:
    value = json.loads(DASHBOARD.read_text())
    assert isinstance(value, dict)
    return value


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, those inside collapsed rows included."""
    panels: list[dict[str, Any]] = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets and template variable queries."""
    exprs = [target["expr"] for panel in _panels(dashboard) for target in panel.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def test_dashboard_is_a_current_grafana_dashboard_on_the_prometheus_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 39
    assert dashboard["uid"] == "stats-gateway"
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"

    panels = _panels(dashboard)
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    graphs = [panel for panel in panels if panel["type"] != "row"]
    assert len(graphs) >= 10
    for panel in graphs:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            assert "stats_gateway_" in target["expr"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_dashboard_uses_exactly_the_gateway_metrics() -> None:
    used = set()
    for expr in _exprs(_dashboard()):
        for name in re.findall(r"\bstats_gateway_\w+", expr):
            assert name in SERIES, f"unknown metric {name} in {expr}"
            used.add(SERIES[name])
    assert used == set(METRICS)


def test_dashboard_label_matchers_name_real_labels_and_values() -> None:
    selector = re.compile(r"\b(stats_gateway_\w+)\s*\{([^}]*)\}")
    matcher = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
    checked = 0
    for expr in _exprs(_dashboard()):
        for name, matchers in selector.findall(expr):
            labels = {**METRICS[SERIES[name]], **TARGET_LABELS}
            if name.endswith("_bucket"):
                labels["le"] = None
            for label, op, value in matcher.findall(matchers):
                assert label in labels, f"{name} has no label {label}: {expr}"
                allowed = labels[label]
                if allowed is None or "$" in value or op in ("!=", "!~"):
                    continue
                assert set(value.split("|")) <= allowed, f"{label}={value!r} in {expr}"
                checked += 1
    assert checked >= 5


def test_dashboard_answers_the_operating_questions() -> None:
    exprs = _exprs(_dashboard())
    joined = "\n".join(exprs)

    def some(pattern: str) -> bool:
        return any(re.search(pattern, expr) for expr in exprs)

    # Request rate, and the share of errors and partial answers.
    assert some(r"sum by \(outcome\) \(rate\(stats_gateway_operations_total")
    for outcome in ("error", "partial"):
        assert some(rf'stats_gateway_operations_total\{{[^}}]*outcome="{outcome}"[^/]*/ sum\(rate')
    # p50 and p99 of both histograms.
    for quantile in ("0.5", "0.99"):
        assert some(
            rf"histogram_quantile\({quantile}, sum by \(le\) \(rate\(stats_gateway_operation_duration"
        )
        assert some(
            rf"histogram_quantile\({quantile}, sum by \(source, le\) "
            r"\(rate\(stats_gateway_upstream_request_duration_seconds_bucket"
        )
    # Cache hit ratio per source; upstream failures per source.
    assert some(r'sum by \(source\) \(rate\(stats_gateway_cache_lookups_total\{[^}]*result="hit"')
    assert some(r'sum by \(source\) \(rate\(stats_gateway_upstream_requests_total\{[^}]*outcome=~"5xx\|')
    assert "stats_gateway_circuit_open" in joined
    assert "rate(stats_gateway_upstream_retries_total" in joined
    assert "rate(stats_gateway_budget_refusals_total" in joined


# --- Kubernetes -----------------------------------------------------------------------------------


def _kustomization() -> dict[str, Any]:
    return _yaml_file(K8S / "kustomization.yaml")


def _k8s_objects() -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    for resource in _kustomization()["resources"]:
        objects.extend(doc for doc in yaml.safe_load_all((K8S / resource).read_text()) if doc)
    return objects


def _k8s(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in _k8s_objects() if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_kustomization_lists_every_manifest_and_only_existing_files() -> None:
    resources = _kustomization()["resources"]
    assert len(resources) == len(set(resources))
    for resource in resources:
        assert (K8S / resource).is_file(), resource
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(resources) == manifests
    for path in K8S.glob("*.yaml"):
        assert path.read_text().startswith("# "), f"{path.name} has no comment header"
    for obj in _k8s_objects():
        assert obj["apiVersion"]
        assert obj["kind"]
        assert obj["metadata"]["name"]
    kinds = sorted(obj["kind"] for obj in _k8s_objects())
    assert kinds == sorted(
        ["ConfigMap", "Secret", "Deployment", "Service", "PodDisruptionBudget", "Deployment", "Service"]
    )


def test_gateway_deployment_probes_healthz_for_liveness_and_readyz_for_readiness() -> None:
    deployment = _k8s("Deployment", "stats-gateway")
    assert deployment["spec"]["replicas"] == 2
    container = _container(deployment)
    image_names = {image["name"] for image in _kustomization()["images"]}
    assert container["image"].split(":")[0] in image_names
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": 8000}
    for probe, path in (
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
        ("startupProbe", "/healthz"),
    ):
        get = container[probe]["httpGet"]
        assert get["path"] == path, probe
        assert ports.get(get["port"], get["port"]) == 8000, probe
        assert container[probe]["timeoutSeconds"] <= 5, probe


def test_gateway_deployment_runs_locked_down_as_the_image_user() -> None:
    pod = _k8s("Deployment", "stats-gateway")["spec"]["template"]["spec"]
    container = _container(_k8s("Deployment", "stats-gateway"))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == _image_uid()
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["runAsUser"] == _image_uid()
    # The root filesystem is read-only: /tmp is the one writable place, a pod-local emptyDir.
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mount["name"]]
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


def test_gateway_deployment_configuration_comes_from_the_configmap_and_the_secret() -> None:
    deployment = _k8s("Deployment", "stats-gateway")
    container = _container(deployment)
    (env_from,) = container["envFrom"]
    config = _k8s("ConfigMap", env_from["configMapRef"]["name"])
    env = {item["name"]: item for item in container["env"]}
    secret_ref = env["GATEWAY_CACHE_SECRET"]["valueFrom"]["secretKeyRef"]
    secret = _k8s("Secret", secret_ref["name"])
    placeholder = secret["stringData"][secret_ref["key"]]
    assert placeholder.startswith("REPLACE"), "the example Secret must hold a visible placeholder"
    assert "GATEWAY_CACHE_SECRET" not in config["data"]
    assert int(env["GATEWAY_WORKERS"]["value"]) >= 1
    assert all(key.startswith("GATEWAY_") for key in config["data"])

    pod = deployment["spec"]["template"]["spec"]
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + 10


def test_services_select_their_deployments_and_named_ports() -> None:
    objects = _k8s_objects()
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    services = [o for o in objects if o["kind"] == "Service"]
    assert len(services) == 2
    for service in services:
        selector = service["spec"]["selector"]
        (target,) = [
            d for d in deployments if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert target["spec"]["selector"]["matchLabels"] == selector
        port_names = {port["name"] for port in _container(target)["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


def test_redis_is_a_bounded_lru_cache_that_the_configmap_points_at() -> None:
    redis = _k8s("Deployment", "stats-gateway-redis")
    args: list[str] = _container(redis)["args"]
    assert args[0] == "redis-server"
    flags = _flag_values(args)
    assert flags["--maxmemory"] == "256mb"
    assert flags["--maxmemory-policy"] == "allkeys-lru"
    assert flags["--save"] == ""
    assert flags["--appendonly"] == "no"
    assert redis["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True

    url = _k8s("ConfigMap", "stats-gateway-config")["data"]["GATEWAY_CACHE_URL"]
    match = re.fullmatch(r"redis://([\w-]+):(\d+)/\d+", url)
    assert match, url
    service = _k8s("Service", match.group(1))
    assert int(match.group(2)) in {port["port"] for port in service["spec"]["ports"]}


# --- smoke script and licence ---------------------------------------------------------------------


def test_smoke_script_is_strict_bash_that_parses() -> None:
    text = SMOKE.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in text
    assert subprocess.run(["bash", "-n", str(SMOKE)], capture_output=True, check=False).returncode == 0
    assert "pip wheel" in text
    assert "--no-deps" in text
    assert "-m venv" in text
    assert "--system-site-packages" not in text
    for step in ("--version", "export-schema", "serve --demo", "/healthz", "__typename", "kill -TERM"):
        assert step in text, step


def test_licence_is_mit_for_the_authors() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} The stats-gateway authors$", text, re.MULTILINE)
    licence = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert licence in ({"text": "MIT"}, "MIT")


@pytest.mark.parametrize(
    "path",
    sorted([*DOCKER.rglob("*.yaml"), *DOCKER.rglob("*.yml"), *K8S.glob("*.yaml")]),
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_every_yaml_file_parses(path: Path) -> None:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, path
    assert all(isinstance(doc, dict) for doc in docs)
