"""`make serve`, `make status`, `make loadtest` and `make stop` end to end in embedded mode, in a
scratch copy of the project (its own .env with free ports) serving the session's published model."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

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
