"""The model server process as tensorflow_model_server_test.py drives it: config files at startup,
a config file that cannot be parsed, and config reloads by polling (or not, with a zero period).

These start their own servers on TF Serving's test models (half_plus_two and half_plus_three from
../shared), so they do not take SERVING_REST_URL: point TF Serving's own test at a real server instead.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from embedded_tfserving.process import PACKAGE_PARENT, ServerProcess
from embedded_tfserving.testing import wait_for

pytestmark = pytest.mark.slow

CONFIG = """model_config_list {
%s}
"""
MODEL = """  config {
    name: "%s"
    base_path: "/testdata/%s"
    model_platform: "tensorflow"
    model_version_policy { specific { versions: 123 } }
  }
"""
HALF_PLUS_TWO = MODEL % ("half_plus_two", "saved_model_half_plus_two_2_versions")
HALF_PLUS_THREE = MODEL % ("half_plus_three", "saved_model_half_plus_three")


@pytest.fixture
def testdata(tf_serving_testdata: Path) -> Path:
    if not (tf_serving_testdata / "saved_model_half_plus_three").is_dir():
        pytest.skip("saved_model_half_plus_three not found in TF Serving's test models")
    return tf_serving_testdata


def predict(target: str, model: str, output_filter: bool = True) -> predict_pb2.PredictResponse:
    """tensorflow_model_server_test_base.py VerifyPredictRequest: x = [2.0], optionally filtered to y."""
    request = predict_pb2.PredictRequest(output_filter=["y"] if output_filter else [])
    request.model_spec.name, request.model_spec.signature_name = model, "serving_default"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    with grpc.insecure_channel(target) as channel:
        reply: predict_pb2.PredictResponse = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=30)
    return reply


def assert_serves(target: str, model: str, expected: float) -> None:
    for output_filter in (True, False):
        reply = predict(target, model, output_filter)
        y = reply.outputs["y"]
        assert (y.dtype, list(y.float_val)) == (types_pb2.DT_FLOAT, [expected])
        assert (reply.model_spec.name, reply.model_spec.version.value, reply.model_spec.signature_name) == \
            (model, 123, "serving_default")


@pytest.fixture
def server_for(testdata: Path, tmp_path: Path) -> Iterator[object]:
    servers: list[ServerProcess] = []

    def start(config_text: str, *flags: str) -> tuple[ServerProcess, Path]:
        config = tmp_path / "models.config"
        config.write_text(config_text)
        server = ServerProcess([f"--model_config_file={config}", f"--base_path_map=/testdata={testdata}", *flags],
                               tmp_path / "server.log")
        servers.append(server)
        server.start()
        return server, config

    yield start
    for server in servers:
        server.stop()


def test_good_model_config(server_for) -> None:
    # tensorflow_model_server_test.py testGoodModelConfig
    server, _ = server_for(CONFIG % (HALF_PLUS_TWO + HALF_PLUS_THREE))
    assert_serves(server.grpc_target, "half_plus_two", 3.0)
    assert_serves(server.grpc_target, "half_plus_three", 4.0)


def test_bad_model_config(tmp_path: Path) -> None:
    # tensorflow_model_server_test.py testBadModelConfig (testdata/bad_model_config.txt): the process
    # exits and its log names protobuf's parse error
    config = tmp_path / "bad_model_config.txt"
    config.write_text("improperly formatted file")
    result = subprocess.run([sys.executable, "-m", "embedded_tfserving", f"--model_config_file={config}"],
                            cwd=PACKAGE_PARENT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "Error parsing text-format tensorflow.serving.ModelServerConfig" in result.stderr


def test_model_config_reload(server_for) -> None:
    # tensorflow_model_server_test.py testModelConfigReload: the file is polled; the new model list replaces the old
    server, config = server_for(CONFIG % HALF_PLUS_TWO, "--model_config_file_poll_wait_seconds=1")
    assert_serves(server.grpc_target, "half_plus_two", 3.0)
    config.write_text(CONFIG % HALF_PLUS_THREE)

    def half_plus_three_serves() -> bool:
        try:
            return list(predict(server.grpc_target, "half_plus_three").outputs["y"].float_val) == [4.0]
        except grpc.RpcError:
            return False

    wait_for(half_plus_three_serves, "half_plus_three to be served after the config file changed", timeout=60)
    assert_serves(server.grpc_target, "half_plus_three", 4.0)

    def half_plus_two_gone() -> bool:
        try:
            predict(server.grpc_target, "half_plus_two")
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.NOT_FOUND
        return False

    wait_for(half_plus_two_gone, "half_plus_two to be unloaded once it left the config", timeout=60)


def test_model_config_reload_with_zero_poll_period(server_for) -> None:
    # tensorflow_model_server_test.py testModelConfigReloadWithZeroPollPeriod: the file is read once
    server, config = server_for(CONFIG % HALF_PLUS_TWO, "--model_config_file_poll_wait_seconds=0")
    config.write_text(CONFIG % HALF_PLUS_THREE)
    time.sleep(2)
    assert_serves(server.grpc_target, "half_plus_two", 3.0)
    with pytest.raises(grpc.RpcError) as missing:
        predict(server.grpc_target, "half_plus_three")
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
