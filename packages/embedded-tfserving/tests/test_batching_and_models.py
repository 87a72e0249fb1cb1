"""Batching under concurrency, queue overflow, and models this suite generates itself (a TF1 graph
with predict/classify/regress, a TF2 module with several inputs/outputs, strings and `_bytes`)."""

from __future__ import annotations

import base64
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import write_tf1_model

from .support import metric_total

pytestmark = pytest.mark.slow

CONFIG = """model_config_list {
  config { name: "tf1" base_path: "%s" model_platform: "tensorflow" }
  config { name: "multi" base_path: "%s" model_platform: "tensorflow" }
}
"""


@pytest.fixture(scope="module")
def batching_server(tf1_model: Path, tf2_model: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("batching")
    shutil.copytree(tf1_model, folder / "tf1" / "1")
    shutil.copytree(tf2_model, folder / "multi" / "7")
    (folder / "models.config").write_text(CONFIG % (folder / "tf1", folder / "multi"))
    (folder / "batching.conf").write_text("max_batch_size { value: 8 }\nbatch_timeout_micros { value: 20000 }\n"
                                          "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 100 }\n"
                                          "allowed_batch_sizes: 4\nallowed_batch_sizes: 8\n")
    (folder / "monitoring.config").write_text('prometheus_config { enable: true path: "/metrics" }')
    flags = [f"--model_config_file={folder / 'models.config'}", "--enable_batching",
             f"--batching_parameters_file={folder / 'batching.conf'}", f"--monitoring_config_file={folder / 'monitoring.config'}"]
    with ServerProcess(flags, log_path=folder / "server.log") as server:
        yield server.start()


def test_concurrent_requests_are_batched_and_answered_in_order(batching_server) -> None:
    url = f"{batching_server.rest_url}/v1/models/tf1:predict"

    def one(i: int) -> tuple[int, requests.Response]:
        return i, requests.post(url, json={"instances": [[float(i)]]}, timeout=60)

    with ThreadPoolExecutor(16) as pool:
        replies = list(pool.map(one, range(48)))
    for i, reply in replies:
        assert reply.status_code == 200 and reply.json() == {"predictions": [[0.5 * i + 2.0]]}
    page = requests.get(f"{batching_server.rest_url}/metrics", timeout=10).text
    runs = metric_total(page, ":tensorflow:serving:batching_session:wrapped_run_count")
    assert 0 < runs < 48  # 48 one-row requests ran in fewer batches
    assert metric_total(page, ":tensorflow:serving:request_count", model_name="tf1", status="OK") >= 48
    # allowed_batch_sizes: every processed batch was padded to 4 or 8 rows
    assert metric_total(page, ":tensorflow:serving:batching_session:processed_batch_size_bucket", le="2") == 0
    assert metric_total(page, ":tensorflow:serving:batching_session:processed_batch_size_bucket", le="8") == runs


def test_oversize_request_is_rejected(batching_server) -> None:
    reply = requests.post(f"{batching_server.rest_url}/v1/models/tf1:predict",
                          json={"instances": [[1.0]] * 9}, timeout=30)
    assert reply.status_code == 400
    assert reply.json() == {"error": "Task size 9 is larger than maximum input batch size 8"}


def test_tf1_classify_and_regress(batching_server) -> None:
    base = f"{batching_server.rest_url}/v1/models/tf1"
    classify = requests.post(f"{base}:classify", json={"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}, timeout=30)
    assert classify.json() == {"results": [[["", 3.0]]]}
    regress = requests.post(f"{base}:regress", json={"signature_name": "regress_x_to_y", "examples": [{"x": [4.0]}]}, timeout=30)
    assert regress.json() == {"results": [4.0]}
    wrong = requests.post(f"{base}:regress", json={"examples": [{"x": 4.0}]}, timeout=30)
    # the predict signature has no "inputs" input (the method-name check is off, TF Serving's default)
    assert wrong.status_code == 400 and wrong.json()["error"].startswith("No regression inputs found in SignatureDef: ")


def test_multi_input_output_model_with_strings_and_bytes(batching_server) -> None:
    url = f"{batching_server.rest_url}/v1/models/multi:predict"
    z = {"b64": base64.b64encode(b"z").decode()}
    rows = requests.post(url, json={"instances": [{"values": [1.0, 2.0, 3.0], "token": "ab"},
                                                  {"values": [0.0, 0.0, 1.0], "token": z}]}, timeout=30)
    assert rows.status_code == 200
    assert rows.json() == {"predictions": [
        {"total": 6.0, "doubled": [2.0, 4.0, 6.0], "echo_bytes": {"b64": base64.b64encode(b"abab").decode()}},
        {"total": 1.0, "doubled": [0.0, 0.0, 2.0], "echo_bytes": {"b64": base64.b64encode(b"zz").decode()}}]}
    columns = requests.post(url, json={"inputs": {"values": [[1.0, 1.0, 1.0]], "token": ["q"]}}, timeout=30)
    assert columns.json()["outputs"]["total"] == [3.0]
    missing = requests.post(url, json={"instances": [{"values": [1.0, 2.0, 3.0]}]}, timeout=30)
    assert missing.status_code == 400 and "keys must be equal to: token,values" in missing.json()["error"]
    plain = requests.post(url, json={"instances": [[1.0, 2.0, 3.0]]}, timeout=30)
    assert plain.json()["error"].startswith("instances is a plain list, but expecting list of objects")
    metadata = requests.get(f"{batching_server.rest_url}/v1/models/multi/metadata", timeout=30).json()
    inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    assert inputs["token"]["dtype"] == "DT_STRING" and inputs["values"]["dtype"] == "DT_FLOAT"


def test_full_queue_gives_503_and_the_server_stays_up(tmp_path: Path) -> None:
    write_tf1_model(tmp_path / "slow" / "1", slow_iterations=300_000)
    (tmp_path / "batching.conf").write_text("max_batch_size { value: 1 }\nbatch_timeout_micros { value: 0 }\n"
                                            "num_batch_threads { value: 1 }\nmax_enqueued_batches { value: 1 }\n")
    flags = ["--model_name=slow", f"--model_base_path={tmp_path / 'slow'}", "--enable_batching",
             f"--batching_parameters_file={tmp_path / 'batching.conf'}"]
    with ServerProcess(flags, log_path=tmp_path / "server.log") as server:
        server.start()
        url = f"{server.rest_url}/v1/models/slow:predict"
        with ThreadPoolExecutor(8) as pool:
            replies = list(pool.map(lambda _: requests.post(url, json={"instances": [[1.0]]}, timeout=120), range(8)))
        codes = sorted(r.status_code for r in replies)
        assert set(codes) <= {200, 503} and 503 in codes and 200 in codes
        full = next(r for r in replies if r.status_code == 503)
        assert full.json() == {"error": "The batch scheduling queue to which this task was submitted is full"}
        assert requests.post(url, json={"instances": [[2.0]]}, timeout=120).json() == {"predictions": [[3.0]]}
