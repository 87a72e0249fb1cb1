"""Fixtures for the serving conformance tests.

The tests speak only HTTP and gRPC, so they can run against a real TensorFlow Serving: set
SERVING_REST_URL and SERVING_GRPC_TARGET to one serving TF Serving's half_plus_two test model as
`half_plus_two` (from saved_model_half_plus_two_2_versions). Otherwise the embedded server starts here.
TF Serving's test models are found through TF_SERVING_TESTDATA, else a `shared/fixtures/tf_serving_testdata`
beside any ancestor folder; without them those tests skip.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from {{ cookiecutter.package_name }}.serving.process import EmbeddedServer

from serving_models import write_tf1_model, write_tf2_model

HALF_PLUS_TWO = "saved_model_half_plus_two_2_versions"
HALF_PLUS_TWO_CONFIG = """model_config_list {
  config {
    name: "half_plus_two"
    base_path: "/testdata/%s"
    model_platform: "tensorflow"
    model_version_policy { all {} }
    version_labels { key: "stable" value: 123 }
  }
}
"""


def testdata_dir() -> Path | None:
    if os.environ.get("TF_SERVING_TESTDATA"):
        return Path(os.environ["TF_SERVING_TESTDATA"])
    for folder in Path(__file__).resolve().parents:
        candidate = folder / "shared" / "fixtures" / "tf_serving_testdata"
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def tf_serving_testdata() -> Path:
    found = testdata_dir()
    if found is None or not (found / HALF_PLUS_TWO).is_dir():
        pytest.skip("TF Serving's test models not found: set TF_SERVING_TESTDATA or keep ../shared beside the project")
    return found


@dataclass
class Target:
    rest_url: str
    grpc_target: str
    model: str


@pytest.fixture(scope="module")
def half_plus_two(tf_serving_testdata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """A server with half_plus_two (versions 123 and 124, policy all, label stable -> 123)."""
    if os.environ.get("SERVING_REST_URL"):
        yield Target(os.environ["SERVING_REST_URL"].rstrip("/"), os.environ["SERVING_GRPC_TARGET"], "half_plus_two")
        return
    folder = tmp_path_factory.mktemp("half_plus_two")
    config = folder / "models.config"
    config.write_text(HALF_PLUS_TWO_CONFIG % HALF_PLUS_TWO)
    monitoring = folder / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }')
    flags = [f"--model_config_file={config}", f"--base_path_map=/testdata={tf_serving_testdata}",
             f"--monitoring_config_file={monitoring}", "--file_system_poll_wait_seconds=1"]
    with EmbeddedServer(flags, log_path=folder / "server.log") as server:
        server.start()
        yield Target(server.rest_url, server.grpc_target, "half_plus_two")


@pytest.fixture(scope="session")
def tf1_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A version folder of the generated TF1 model (y = 0.5x + 2), to copy under a base path."""
    return write_tf1_model(tmp_path_factory.mktemp("tf1") / "1")


@pytest.fixture(scope="session")
def tf2_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tf2_model(tmp_path_factory.mktemp("tf2") / "1")
