"""compose/ is valid and self-consistent, checked without a Docker engine."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from tfserving_stack import compose, compose_file, mode
from tfserving_stack.errors import StackError

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.contract import READINESS_PROBE
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT, read_env_file

from ..helpers import require_prometheus_tool

COMPOSE_DIR = PROJECT_ROOT / "compose"
COMPOSE_FILE = COMPOSE_DIR / "docker-compose.yml"
ENV = read_env_file(PROJECT_ROOT / ".env")


def interpolated_compose() -> dict:
    """The compose file with its variables taken from .env, as compose does before validating."""
    text = COMPOSE_FILE.read_text()
    optional = set(compose_file.defaults(text)) | {"LOCUST_MASTER_OPTIONS"}
    used = {m["name"] for m in compose_file.VARIABLE.finditer(text) if m["name"]}
    missing = sorted(used - set(ENV) - optional)
    assert not missing, f"compose file uses variables that .env does not define: {missing}"
    return yaml.safe_load(compose_file.interpolate(text, ENV))


def test_compose_file_matches_the_compose_spec() -> None:
    schema = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
    jsonschema.Draft201909Validator(schema).validate(interpolated_compose())


def test_docker_compose_config_accepts_the_file() -> None:
    try:
        mode.require_compose_plugin()
    except StackError:
        pytest.skip("docker compose plugin not installed: the schema test above validates the file")
    project = settings.project()
    for profile in ("cpu", "gpu", "loadtest"):
        result = compose.run_compose(project, "config", "--quiet", profiles=[profile], capture=True)
        assert result.returncode == 0, result.stderr


def test_every_mounted_file_exists() -> None:
    compose = interpolated_compose()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):  # bind mount (named volumes have no path)
                path = COMPOSE_DIR / host
                # models/, reports/ and run/ are made by the project's commands, not shipped.
                assert path.exists() or path.name in ("models", "reports", "run"), f"{name} mounts missing {path}"
        if build := service.get("build"):
            assert (COMPOSE_DIR / build["context"] / build["dockerfile"]).is_file(), name


def test_profiles_choose_exactly_one_tfserving() -> None:
    services = interpolated_compose()["services"]
    assert services["tfserving"]["profiles"] == ["cpu"]
    assert services["tfserving-gpu"]["profiles"] == ["gpu"]
    gpu = services["tfserving-gpu"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "tfserving" in gpu["networks"]["default"]["aliases"]
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_every_image_comes_from_env_with_the_upstream_image_as_default() -> None:
    """Users keep the upstream images; `make use-local-images` only rewrites .env lines."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for name, service in raw["services"].items():
        match = compose_file.VARIABLE.fullmatch(service["image"])
        assert match and match["op"] == ":-", f"{name}: image {service['image']!r} is not $" + "{VAR:-upstream image}"
        assert ENV[match["name"]] == match["default"], f"{name}: .env's {match['name']} differs from the compose default"


def test_healthcheck_is_the_contract_s_readiness_probe_for_the_configured_model() -> None:
    test = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["tfserving"]["healthcheck"]["test"]
    assert test == ["CMD", "bash", "-c", READINESS_PROBE]
    probe = " ".join(interpolated_compose()["services"]["tfserving"]["healthcheck"]["test"])
    assert "/dev/tcp/127.0.0.1/8501" in probe and f"/v1/models/{ENV['MODEL_NAME']} " in probe


def test_prometheus_config_passes_promtool() -> None:
    promtool = require_prometheus_tool("promtool")
    result = subprocess.run([promtool, "check", "config", str(COMPOSE_DIR / "prometheus.yml")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_loadtest_port_from_env() -> None:
    config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["tfserving"]["metrics_path"] == "/monitoring/prometheus/metrics"
    ports = {t.rsplit(":", 1)[1] for t in jobs["loadtest"]["static_configs"][0]["targets"]}
    assert ports == {ENV["LOADTEST_METRICS_PORT"]}


def test_models_config_parses_as_model_server_config() -> None:
    config = text_format.Parse((COMPOSE_DIR / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == ENV["MODEL_NAME"]
    assert model.base_path == f"/models/{ENV['MODEL_NAME']}"
    assert model.model_version_policy.latest.num_versions == 2
    assert not model.version_labels  # labels on unpublished versions would fail the load


def test_batching_and_monitoring_configs_parse() -> None:
    from embedded_tfserving import config as serving_config

    batching = serving_config.parse_batching_parameters((COMPOSE_DIR / "batching.conf").read_text())
    assert batching.max_batch_size.value == {{ cookiecutter.max_batch_size }}
    assert batching.batch_timeout_micros.value == {{ cookiecutter.batch_timeout_micros }}
    assert batching.num_batch_threads.value == {{ cookiecutter.num_batch_threads }}
    assert batching.max_enqueued_batches.value == {{ cookiecutter.max_enqueued_batches }}
    monitoring = serving_config.parse_monitoring_config((COMPOSE_DIR / "monitoring.config").read_text())
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_grafana_provisioning_points_at_the_mounted_dashboards() -> None:
    grafana = interpolated_compose()["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("."))
    provider = yaml.safe_load((COMPOSE_DIR / "grafana/provisioning/dashboards/dashboards.yaml").read_text())["providers"][0]
    assert mounts["../dashboards"] == provider["options"]["path"]
    datasource = yaml.safe_load((COMPOSE_DIR / "grafana/provisioning/datasources/prometheus.yaml").read_text())["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090" and datasource["type"] == "prometheus"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (PROJECT_ROOT / "dashboards" / Path(home).name).is_file()
