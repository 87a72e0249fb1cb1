"""Fixtures of the server's tests.

The conformance tests speak only HTTP and gRPC, so they can run against a real TensorFlow Serving:
set SERVING_REST_URL and SERVING_GRPC_TARGET to one serving TF Serving's half_plus_two test model
as `half_plus_two` (from saved_model_half_plus_two_2_versions), with HALF_PLUS_TWO_CONFIG below as
its --model_config_file and --allow_version_labels_for_unavailable_models: the config labels version
123 (`stable`), and TF Serving assigns labels before it loads a config's models, so without that flag
it refuses to start. Otherwise the server starts here, with the same config and flag.
TF Serving's test models are found through TF_SERVING_TESTDATA, else a `shared/fixtures/tf_serving_testdata`
beside any ancestor folder; without them those tests skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import (
    place_version,
    tf_serving_testdata_dir,
    write_batching_parameters,
    write_tf1_model,
    write_tf2_model,
)

from .support import MODEL

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


@pytest.fixture(scope="session")
def tf_serving_testdata() -> Path:
    found = tf_serving_testdata_dir()
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
             f"--monitoring_config_file={monitoring}", "--file_system_poll_wait_seconds=1",
             "--allow_version_labels_for_unavailable_models"]  # the label is in the initial config
    with ServerProcess(flags, folder / "server.log") as server:
        server.start()
        yield Target(server.rest_url, server.grpc_target, "half_plus_two")


@pytest.fixture(scope="session")
def tf1_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A version folder of the generated TF1 model (y = 0.5x + 2), to copy under a base path."""
    return write_tf1_model(tmp_path_factory.mktemp("tf1") / "1")


@pytest.fixture(scope="session")
def tf2_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tf2_model(tmp_path_factory.mktemp("tf2") / "1")


@pytest.fixture(scope="module")
def plain_server(tf1_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The TF1 model as `hp2`: batching on (max_batch_size 1000), 2 MiB request limit, 1 s header/body read timeouts."""
    folder = tmp_path_factory.mktemp("plain")
    place_version(tf1_model, folder / MODEL, 1)
    batching = write_batching_parameters(folder / "batching.conf", max_batch_size=1000, batch_timeout_micros=1000,
                                         max_enqueued_batches=100)
    flags = [f"--model_name={MODEL}", f"--model_base_path={folder / MODEL}", "--enable_batching",
             f"--batching_parameters_file={batching}", f"--max_request_bytes={2 << 20}",
             "--rest_header_timeout_seconds=1", "--rest_body_timeout_seconds=1"]
    with ServerProcess(flags, folder / "server.log") as server:
        server.start()
        yield server
