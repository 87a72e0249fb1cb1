"""serve/stop/status behaviour that needs no model server: mode choice, config derivation, errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tfserving_stack import embedded
from tfserving_stack.project import Project
from tfserving_stack.prometheus import local_config, target_map

from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT, read_env_file

from ..helpers import copy_project, make, require_prometheus_tool


def cli(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", *args], cwd=root, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **env}, timeout=120,
    )


def fake_published_model(root: Path) -> None:
    """Enough of a published version for the pre-start checks (they fail before any load)."""
    version = root / "models" / "{{ cookiecutter.model_name }}" / "1"
    version.mkdir(parents=True)
    (version / "saved_model.pb").write_bytes(b"")


def test_command_modules_do_not_import_tensorflow() -> None:
    """`--help` imports every command module: none may import TensorFlow (seconds) at import time."""
    code = (
        "import sys; from {{ cookiecutter.package_name }}.cli import COMMANDS, main; "
        "[main.get_command(None, name) for name in COMMANDS]; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)


def test_serve_without_a_published_model_says_how_to_make_one(make_project) -> None:
    result = cli(make_project(), "serve", SERVE_MODE="embedded")
    assert result.returncode != 0
    assert "no published version of model '{{ cookiecutter.model_name }}'" in result.stderr
    assert "make train export" in result.stderr


def test_serve_names_the_port_in_use_and_its_process(make_project) -> None:
    root = make_project()
    fake_published_model(root)
    rest_port = Project.load(root).port("REST_PORT")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", rest_port))
        busy.listen()
        result = cli(root, "serve", SERVE_MODE="embedded")
    assert result.returncode != 0
    assert f"REST_PORT={rest_port} is in use by python" in result.stderr
    assert not list((root / "run" / "embedded").glob("*.pid.json")), "nothing may be left running"


def test_forced_compose_without_an_engine_is_a_clear_error(make_project, tmp_path: Path) -> None:
    # DOCKER_HOST at a socket nobody serves: no engine answers, whether or not one runs here.
    result = cli(make_project(), "serve", SERVE_MODE="compose", DOCKER_HOST=f"unix://{tmp_path / 'no-engine.sock'}")
    assert result.returncode != 0
    assert "no Docker engine answers" in result.stderr and "SERVE_MODE=embedded" in result.stderr


def test_server_flags_come_from_the_compose_service(make_project) -> None:
    project = Project.load(make_project())
    flags = embedded.server_flags(project)
    compose_dir = project.compose_dir.resolve()
    assert f"--rest_api_port={project.port('REST_PORT')}" in flags
    assert f"--port={project.port('GRPC_PORT')}" in flags
    assert f"--model_config_file={compose_dir / 'models.config'}" in flags
    assert f"--batching_parameters_file={compose_dir / 'batching.conf'}" in flags
    assert f"--monitoring_config_file={compose_dir / 'monitoring.config'}" in flags
    assert "--enable_batching" in flags
    assert f"--base_path_map=/models={project.models_dir}" in flags


def test_local_prometheus_config_keeps_jobs_and_rewrites_targets(make_project) -> None:
    project = Project.load(make_project())
    compose_config = yaml.safe_load((project.compose_dir / "prometheus.yml").read_text())
    local = local_config(compose_config, target_map(project))
    jobs = {job["job_name"]: job for job in local["scrape_configs"]}
    assert set(jobs) == {job["job_name"] for job in compose_config["scrape_configs"]}
    assert jobs["tfserving"]["metrics_path"] == "/monitoring/prometheus/metrics"
    assert jobs["tfserving"]["static_configs"][0]["targets"] == [f"127.0.0.1:{project.port('REST_PORT')}"]
    assert jobs["loadtest"]["static_configs"][0]["targets"] == [f"127.0.0.1:{project.port('LOADTEST_METRICS_PORT')}"]
    assert jobs["prometheus"]["static_configs"][0]["targets"] == [f"127.0.0.1:{project.port('PROMETHEUS_PORT')}"]
    (manager,) = local["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == [f"127.0.0.1:{project.port('ALERTMANAGER_PORT')}"]
    # Without an Alertmanager the alerting block goes; rules and jobs stay.
    alone = local_config(compose_config, target_map(project), with_alertmanager=False)
    assert "alerting" not in alone
    assert alone["rule_files"] == local["rule_files"] and alone["scrape_configs"] == local["scrape_configs"]


def test_local_prometheus_config_passes_promtool(make_project, tmp_path: Path) -> None:
    promtool = require_prometheus_tool("promtool")
    from tfserving_stack.prometheus import write_local_config

    path = write_local_config(Project.load(make_project()), tmp_path / "prometheus.yml", scrape_interval="1s")
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_status_when_nothing_runs(make_project) -> None:
    result = cli(make_project(), "status")
    assert result.returncode == 0, result.stderr
    assert "nothing is running" in result.stdout


def test_env_switches_between_local_and_upstream_images(tmp_path: Path) -> None:
    """`make use-local-images` and `make use-upstream-images` (CI's compose job runs the first)."""
    root = copy_project(tmp_path / "project")
    original = (root / ".env").read_text()
    local = make(root, "use-local-images")
    assert local.returncode == 0, local.stderr
    env = (root / ".env").read_text()
    name = read_env_file(root / ".env")["COMPOSE_PROJECT_NAME"]
    for key, role in (("TFSERVING_IMAGE", "model-server"), ("LOCUST_IMAGE", "model-server"),
                      ("PROMETHEUS_IMAGE", "prometheus"), ("ALERTMANAGER_IMAGE", "alertmanager"), ("NGINX_IMAGE", "nginx"),
                      ("BALANCER_IMAGE", "balancer")):
        assert f"\n{key}=localhost/{name}/{role}:local\n" in env
    assert env.count("\n") == original.count("\n")  # rewritten in place, comments kept
    upstream = make(root, "use-upstream-images")
    assert upstream.returncode == 0, upstream.stderr
    assert (root / ".env").read_text() == original  # .env ships the upstream images

