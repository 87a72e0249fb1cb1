"""What the template's tests share: the answer sets, rendering, running make in a rendered project,
the default ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from cookiecutter.main import cookiecutter

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = Path(sys.executable)

# Answer sets the template must handle; "default" is what `cookiecutter --no-input` gives.
VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "renamed": {
        "project_name": "Ads Ranker",
        "package_name": "ads_ranker",
        "model_name": "click-model",
        "rest_port": "18501",
        "grpc_port": "18500",
        "prometheus_port": "19090",
        "grafana_port": "13000",
        "max_batch_size": "32",
    },
    "gpu": {"project_name": "Gpu Ctr", "use_gpu": "yes"},
}


def render(output_dir: Path, answers: dict[str, str]) -> Path:
    return Path(cookiecutter(str(REPO), no_input=True, extra_context=answers, output_dir=str(output_dir)))


# TF Serving's own test models (../shared beside the repo, when present): the generated suites
# cross-check the embedded server against them, and skip those tests with a message otherwise.
TF_SERVING_TESTDATA = REPO.parent / "shared" / "fixtures" / "tf_serving_testdata"


def run_make(project: Path, *targets: str, extra: dict[str, str] | None = None,
             timeout: int = 1800) -> subprocess.CompletedProcess[str]:
    """Run make in a rendered project with this repo's venv (one TensorFlow install for all variants)."""
    # Without the parent make's MAKEFLAGS, whose variables (PYTEST_ARGS of `make test` at the repo
    # root) would override the ones given here.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    if TF_SERVING_TESTDATA.is_dir():
        env.setdefault("TF_SERVING_TESTDATA", str(TF_SERVING_TESTDATA))
    variables = [f"{key}={value}" for key, value in (extra or {}).items()]
    return subprocess.run(
        ["make", "-C", str(project), *targets, f"VENV={VENV_PYTHON.parent.parent}", *variables],
        env=env, text=True, capture_output=True, timeout=timeout,
    )


# The ports of the default answers (.env), used by the tests that run the default project as a
# user would (the workshop, `make demo`).
DEFAULT_PORTS = {"REST": 8501, "gRPC": 8500, "Prometheus": 9090, "load-test metrics": 9646, "Alertmanager": 9093,
                 "alert webhook receiver": 9095}


def busy_default_ports() -> list[str]:
    """'REST 8501'-style names of the default ports something listens on."""
    busy = []
    for what, port in DEFAULT_PORTS.items():
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(f"{what} {port}")
    return busy
