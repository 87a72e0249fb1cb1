"""TF 1.0-era SavedModels: TF Serving's half_plus_three (y = 0.5x + 3, exported by TF 1.0, GraphDef
producer 21) served beside half_plus_two, as in tensorflow_model_server_test.py testGoodModelConfig.

The server tests speak only REST and gRPC: to run them against a real tensorflow_model_server, set
SERVING_REST_URL and SERVING_GRPC_TARGET to one serving half_plus_two (saved_model_half_plus_two_2_versions,
policy all) and half_plus_three (saved_model_half_plus_three) under those names. The tests at the
end check, in-process, that a version's graph is imported at its own GraphDef version, as TF's C++
loader imports it, so TF 1.0-era shape rules apply to TF 1.0-era graphs only.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from embedded_tfserving.errors import ServingError
from embedded_tfserving.process import ServerProcess
from embedded_tfserving.servable import Servable, read_serve_meta_graph

from .conftest import HALF_PLUS_TWO, Target

HALF_PLUS_THREE = "saved_model_half_plus_three"
# The last GraphDef version whose Placeholder `shape {}` means "unknown", not scalar
# (tensorflow/core/ops/array_ops.cc, REGISTER_OP("Placeholder"): `graph_def_version() <= 21`).
LAST_PRODUCER_WITHOUT_SCALAR_PLACEHOLDERS = 21
REGRESS = "tensorflow/serving/regress"  # half_plus_three's second SignatureDef (its file; saved_model_cli)
CONFIG = """model_config_list {
  config { name: "half_plus_two" base_path: "%s" model_platform: "tensorflow" model_version_policy { all {} } }
  config { name: "half_plus_three" base_path: "%s" model_platform: "tensorflow" }
}
"""


@pytest.fixture(scope="module")
def half_plus_three_dir(tf_serving_testdata: Path) -> Path:
    folder = tf_serving_testdata / HALF_PLUS_THREE
    if not folder.is_dir():
        pytest.skip(f"TF Serving's {HALF_PLUS_THREE} test model not found under {tf_serving_testdata}")
    return folder


@pytest.fixture(scope="module")
def served(tf_serving_testdata: Path, half_plus_three_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """half_plus_two (123 and 124) and half_plus_three (123) from TF Serving's own test data."""
    if os.environ.get("SERVING_REST_URL"):
        yield Target(os.environ["SERVING_REST_URL"].rstrip("/"), os.environ["SERVING_GRPC_TARGET"], "half_plus_three")
        return
    folder = tmp_path_factory.mktemp("tf1_models")
    config = folder / "models.config"
    config.write_text(CONFIG % (tf_serving_testdata / HALF_PLUS_TWO, half_plus_three_dir))
    with ServerProcess([f"--model_config_file={config}"], folder / "server.log") as server:
        server.start()
        yield Target(server.rest_url, server.grpc_target, "half_plus_three")


@pytest.fixture(scope="module")
def channel(served: Target) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.grpc_target) as opened:
        yield opened


def post(served: Target, verb: str, body: object) -> requests.Response:
    return requests.post(f"{served.rest_url}/v1/models/{served.model}:{verb}", data=json.dumps(body), timeout=30)


def file_signature_map(half_plus_three_dir: Path) -> get_model_metadata_pb2.SignatureDefMap:
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for key, signature in read_serve_meta_graph(half_plus_three_dir / "00000123").signature_def.items():
        signatures.signature_def[key].CopyFrom(signature)
    return signatures


# --- half_plus_three over REST and gRPC ---------------------------------------------------------

@pytest.mark.slow
def test_status_shows_half_plus_three_available(served: Target) -> None:
    # api_rest.md "Make REST API calls to ModelServer": the status of saved_model_half_plus_three
    reply = requests.get(f"{served.rest_url}/v1/models/half_plus_three", timeout=10)
    assert reply.status_code == 200
    assert reply.json() == {"model_version_status": [
        {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}


@pytest.mark.slow
@pytest.mark.parametrize(("body", "expected"), [
    # api_rest.md "Make REST API calls to ModelServer": instances [1.0, 2.0, 5.0] -> [3.5, 4.0, 5.5]
    ({"instances": [1.0, 2.0, 5.0]}, {"predictions": [3.5, 4.0, 5.5]}),
    ({"signature_name": "serving_default", "instances": [{"x": 2.0}]}, {"predictions": [4.0]}),
    # the same tensor in the columnar format (api_rest.md "Specifying input tensors in column format")
    ({"inputs": {"x": [1.0, 2.0, 5.0]}}, {"outputs": [3.5, 4.0, 5.5]}),
    ({"inputs": [2.0]}, {"outputs": [4.0]}),
])
def test_rest_predict(served: Target, body: dict[str, object], expected: dict[str, object]) -> None:
    reply = post(served, "predict", body)
    assert reply.status_code == 200, reply.text
    assert reply.json() == expected


@pytest.mark.slow
@pytest.mark.parametrize("specify_output", [True, False])
def test_grpc_predict_two_gives_four(channel: grpc.Channel, specify_output: bool) -> None:
    # tensorflow_model_server_test.py testGoodModelConfig: VerifyPredictRequest(model_name='half_plus_three',
    # expected_output=4.0), with and without output_filter; x is DT_FLOAT [1] holding 2.0.
    from tensorflow.core.framework import types_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "half_plus_three", "serving_default"
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    if specify_output:
        request.output_filter.append("y")
    reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert reply.outputs["y"].dtype == types_pb2.DT_FLOAT
    assert list(reply.outputs["y"].float_val) == [4.0]
    # _VerifyModelSpec: name, signature name and the version folder's number
    assert (reply.model_spec.name, reply.model_spec.signature_name, reply.model_spec.version.value) == \
        ("half_plus_three", "serving_default", 123)


@pytest.mark.slow
def test_rest_regress(served: Target) -> None:
    # api_rest.md "Make REST API calls to ModelServer": regress on the non-default signature
    reply = post(served, "regress", {"signature_name": REGRESS, "examples": [{"x": 1.0}, {"x": 2.0}]})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"results": [3.5, 4.0]}


@pytest.mark.slow
def test_grpc_regress(channel: grpc.Channel) -> None:
    # the api_rest.md regress example, over gRPC: one regression per example
    from tensorflow.core.example import example_pb2

    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = "half_plus_three", REGRESS
    for x in (1.0, 2.0):
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(x)
        request.input.example_list.examples.append(example)
    reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Regress(request, timeout=30)
    assert [r.value for r in reply.result.regressions] == [3.5, 4.0]
    assert (reply.model_spec.signature_name, reply.model_spec.version.value) == (REGRESS, 123)


@pytest.mark.slow
def test_metadata_reports_the_files_own_signature_defs(served: Target, channel: grpc.Channel,
                                                       half_plus_three_dir: Path) -> None:
    # TF Serving's GetModelMetadata reports the MetaGraphDef's SignatureDefs as the file holds them
    # (get_model_metadata_impl.cc): here, TensorInfos without tensor_shape (TF 1.0 wrote none).
    expected = file_signature_map(half_plus_three_dir)
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "half_plus_three"
    reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request, timeout=30)
    got = get_model_metadata_pb2.SignatureDefMap()
    reply.metadata["signature_def"].Unpack(got)
    assert got == expected
    assert not got.signature_def["serving_default"].inputs["x"].HasField("tensor_shape")
    rest = requests.get(f"{served.rest_url}/v1/models/half_plus_three/metadata", timeout=10).json()
    assert rest["metadata"]["signature_def"] == json_format.MessageToDict(
        expected, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


@pytest.mark.slow
@pytest.mark.parametrize("version", [123, 124])
def test_half_plus_two_versions_still_load(channel: grpc.Channel, version: int) -> None:
    # testGoodModelConfig: half_plus_two beside half_plus_three, predict 2.0 -> 3.0 (producer 23: the normal path)
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([2.0], dtype=tf.float32))
    reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert list(reply.outputs["y"].float_val) == [3.0]
    assert reply.model_spec.version.value == version
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "half_plus_two"
    status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request, timeout=30)
    assert {s.version for s in status.model_version_status} == {123, 124}


# --- the graph's own GraphDef version, in-process ------------------------------------------------

def write_scalar_model(version_dir: Path) -> Path:
    """A TF1 SavedModel written now (a modern producer) whose input is a true scalar: y = 2x + 1."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, shape=[], name="x")
        y = tf.add(x * 2.0, 1.0, name="y")
        with v1.Session(graph=graph) as session:
            builder = v1.saved_model.Builder(str(version_dir))
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
                "serving_default": v1.saved_model.predict_signature_def({"x": x}, {"y": y})})
            builder.save()
    return version_dir


def with_producer(source: Path, target: Path, producer: int) -> Path:
    """A copy of the SavedModel at source whose GraphDef claims to be written at `producer`."""
    from tensorflow.core.protobuf import saved_model_pb2

    shutil.copytree(source, target)
    saved_model = saved_model_pb2.SavedModel.FromString((source / "saved_model.pb").read_bytes())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.graph_def.versions.producer = producer
    (target / "saved_model.pb").write_bytes(saved_model.SerializeToString())
    return target


def test_modern_scalar_model_serves_as_before(tmp_path: Path) -> None:
    import numpy as np

    servable = Servable("scalar", 1, write_scalar_model(tmp_path / "1"))
    try:
        assert servable.run("", {"x": np.array(3.0, dtype=np.float32)})["y"].tolist() == 7.0
        assert servable.signature_defs["serving_default"].inputs["x"].tensor_shape.dim == []
    finally:
        servable.release()


@pytest.mark.parametrize(("producer", "loads"), [
    (LAST_PRODUCER_WITHOUT_SCALAR_PLACEHOLDERS, True), (LAST_PRODUCER_WITHOUT_SCALAR_PLACEHOLDERS + 1, False)])
def test_a_graph_is_imported_at_its_own_graphdef_version(half_plus_three_dir: Path, tmp_path: Path,
                                                         producer: int, loads: bool) -> None:
    # half_plus_three (producer 21) feeds a Placeholder written `shape {}` to ParseExample, which wants a
    # vector: up to producer 21 that shape reads as unknown (array_ops.cc), past it as a scalar, and the
    # import fails, as in TF's C++ loader. The same graph stamped 22 must fail: the rule is TensorFlow's.
    import numpy as np

    version = with_producer(half_plus_three_dir / "00000123", tmp_path / "123", producer)
    if not loads:
        with pytest.raises(ServingError, match="Shape must be rank 1 but is rank 0"):
            Servable("half_plus_three", 123, version)
        return
    servable = Servable("half_plus_three", 123, version)
    try:
        assert servable.run("", {"x": np.array([2.0], dtype=np.float32)})["y"].tolist() == [4.0]
    finally:
        servable.release()


def test_loading_leaves_the_model_folder_as_it_was(half_plus_three_dir: Path, tmp_path: Path) -> None:
    import numpy as np

    version = shutil.copytree(half_plus_three_dir / "00000123", tmp_path / "123")  # writable, unlike the fixture
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in version.rglob("*") if p.is_file()}
    servable = Servable("half_plus_three", 123, version)
    try:
        assert servable.run("", {"x": np.array([2.0], dtype=np.float32)})["y"].tolist() == [4.0]
    finally:
        servable.release()
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in version.rglob("*") if p.is_file()} == before
