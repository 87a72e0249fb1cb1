"""A serving project laid out as the stack reads it (.env, compose/, models/), serving TF Serving's
half_plus_two test model (y = 0.5 * x + 2) on free ports. The test models are found through
TF_SERVING_TESTDATA, else a `shared/fixtures/tf_serving_testdata` beside any ancestor folder;
without them the tests that serve skip."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from embedded_tfserving.process import free_port
from embedded_tfserving.testing import tf_serving_testdata_dir

from tfserving_stack.project import read_env_file

HALF_PLUS_TWO = "saved_model_half_plus_two_tf2_cpu"

# The tfserving service as a compose file runs TF Serving: the flags, and the files they name
# mounted from compose/ and the models folder (the embedded mode reads both back).
COMPOSE_FILE = """\
services:
  tfserving:
    image: ${TFSERVING_IMAGE:-tensorflow/serving:2.19.0}
    command:
      - --model_name=${MODEL_NAME}
      - --model_base_path=/models/${MODEL_NAME}
      - --monitoring_config_file=/config/monitoring.config
      - --file_system_poll_wait_seconds=1
    volumes:
      - ../models:/models:ro
      - ./monitoring.config:/config/monitoring.config:ro
    ports:
      - "127.0.0.1:${REST_PORT}:8501"
      - "127.0.0.1:${GRPC_PORT}:8500"
  prometheus:
    image: ${PROMETHEUS_IMAGE:-prom/prometheus:v3.5.0}
    profiles: [monitoring]
"""
PROMETHEUS_FILE = """\
global:
  scrape_interval: 15s
rule_files:
  - rules/*.yml
scrape_configs:
  - job_name: tfserving
    metrics_path: /monitoring/prometheus/metrics
    dns_sd_configs:
      - names: [tfserving-replica]
        type: A
        port: 8501
  - job_name: loadtest
    static_configs:
      - targets: ["host.docker.internal:9646"]
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]
"""
MONITORING = 'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'


@pytest.fixture(scope="session")
def half_plus_two_path() -> Path:
    found = tf_serving_testdata_dir()
    if found is None or not (found / HALF_PLUS_TWO).is_dir():
        pytest.skip("TF Serving's test models not found: set TF_SERVING_TESTDATA or keep ../shared beside the project")
    return found / HALF_PLUS_TWO


@pytest.fixture()
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """make_project(with_model=True, **settings): a project folder; settings go into its .env."""
    def make(with_model: bool = True, **settings: str) -> Path:
        root = tmp_path / "project"
        (root / "compose").mkdir(parents=True)
        (root / "compose" / "docker-compose.yml").write_text(COMPOSE_FILE)
        (root / "compose" / "prometheus.yml").write_text(PROMETHEUS_FILE)
        (root / "compose" / "monitoring.config").write_text(MONITORING)
        env = {"COMPOSE_PROJECT_NAME": "half-plus-two", "MODEL_NAME": "half_plus_two", "SLO_AVAILABILITY": "0.999",
               "SLO_P99_MS": "100", **{key: str(free_port()) for key in (
                   "REST_PORT", "GRPC_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "ALERT_WEBHOOK_PORT",
                   "LOADTEST_METRICS_PORT")}, **settings}
        (root / ".env").write_text("# a test project\n" + "".join(f"{key}={value}\n" for key, value in env.items()))
        (root / "models" / "half_plus_two").mkdir(parents=True)
        if with_model:
            found = tf_serving_testdata_dir()
            if found is None or not (found / HALF_PLUS_TWO).is_dir():
                pytest.skip("TF Serving's test models not found: set TF_SERVING_TESTDATA")
            shutil.copytree(found / HALF_PLUS_TWO / "00000123", root / "models" / "half_plus_two" / "00000123")
        return root
    return make


def stack(root: Path, *args: str, timeout: float = 240, **env: str) -> subprocess.CompletedProcess[str]:
    """`tfserving-stack --project-dir ROOT ARGS...` as a user runs it, with `env` added to the
    environment and none of the project's own settings there (its .env names them)."""
    settings = set(read_env_file(root / ".env"))
    clean = {key: value for key, value in os.environ.items() if key not in settings}
    return subprocess.run([sys.executable, "-m", "tfserving_stack", "--project-dir", str(root), *args],
                          capture_output=True, text=True, timeout=timeout, env={**clean, **env})
