"""`make serve`, `make status`, `make loadtest` and `make stop` end to end in embedded mode, in a
scratch copy of the project (its own .env with free ports) serving the session's published model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from {{ cookiecutter.package_name }}.loadtest.payloads import rest_bodies

from .. import helpers
from ..helpers import copy_project, read_env, require_prometheus_tool

pytestmark = pytest.mark.slow


def make(root: Path, target: str, *variables: str) -> subprocess.CompletedProcess:
    return helpers.make(root, target, "SERVE_MODE=embedded", *variables, timeout=300)


def test_make_serve_then_stop(tmp_path: Path, published_model) -> None:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    root = copy_project(tmp_path / "project", Path(published_model.models_dir))
    env = read_env(root)
    rest = f"http://127.0.0.1:{env['REST_PORT']}/v1/models/{published_model.name}"
    try:
        served = make(root, "serve")
        assert served.returncode == 0, served.stdout + served.stderr
        assert "embedded server is up" in served.stdout
        status = requests.get(rest, timeout=5).json()["model_version_status"]
        assert {"version": str(published_model.version), "state": "AVAILABLE"}.items() <= status[0].items()

        shown = make(root, "status")
        assert shown.returncode == 0, shown.stderr
        assert f"version {published_model.version} AVAILABLE" in shown.stdout
        assert f"127.0.0.1:{env['GRPC_PORT']}" in shown.stdout

        loaded = make(root, "loadtest", "LOADTEST_ARGS=--duration 4 --users 4 --spawn-rate 4")
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr
        summary = json.loads(next((root / "reports").glob("*-steady/summary.json")).read_text())
        assert summary["runs"][0]["requests"] > 0 and summary["runs"][0]["failures"] == 0, summary
    finally:
        stopped = make(root, "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped server" in stopped.stdout
    with pytest.raises(requests.ConnectionError):
        requests.get(rest, timeout=5)
    assert not list((root / "run" / "embedded").glob("*.pid.json"))


def test_stop_then_serve_back_to_back(tmp_path: Path, published_model) -> None:
    """Right after `make stop`, the stopped servers' connections linger in TIME_WAIT on their ports;
    `make serve` must start anyway (the servers themselves bind with SO_REUSEADDR)."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    require_prometheus_tool("prometheus")  # its own scrape connections are what linger
    root = copy_project(tmp_path / "project", Path(published_model.models_dir))
    try:
        for _ in range(2):
            served = make(root, "serve")
            assert served.returncode == 0, served.stdout + served.stderr
            assert "Prometheus" in served.stdout
            stopped = make(root, "stop")
            assert stopped.returncode == 0, stopped.stderr
            assert "stopped prometheus" in stopped.stdout and "stopped server" in stopped.stdout
    finally:
        make(root, "stop")


def test_models_dir_is_where_export_publishes_and_serve_serves(tmp_path: Path, published_model) -> None:
    """MODELS_DIR moves the model store for every command: `make export` publishes into it, `make serve`
    serves it, and the served version answers a prediction."""
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    root = copy_project(tmp_path / "project")
    shutil.copytree(published_model.artifacts_dir, root / "artifacts")
    store = tmp_path / "elsewhere"
    moved = {"MODELS_DIR": str(store), "MODEL_NAME": published_model.name}
    env = read_env(root)
    try:
        exported = helpers.make(root, "export", env=moved, timeout=600)
        assert exported.returncode == 0, exported.stdout + exported.stderr
        assert (store / published_model.name / "1" / "saved_model.pb").is_file()
        assert not list((root / "models").iterdir()), "nothing published into the project's own models/"
        served = helpers.make(root, "serve", "SERVE_MODE=embedded", env=moved, timeout=300)
        assert served.returncode == 0, served.stdout + served.stderr
        answer = requests.post(f"http://127.0.0.1:{env['REST_PORT']}/v1/models/{published_model.name}:predict",
                               data=rest_bodies(rows=1, pool=1, seed=0)[0], timeout=30)
        assert answer.status_code == 200, answer.text
        assert len(answer.json()["predictions"]) == 1
    finally:
        helpers.make(root, "stop", "SERVE_MODE=embedded", env=moved)
