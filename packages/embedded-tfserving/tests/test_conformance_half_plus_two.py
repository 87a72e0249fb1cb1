"""TF Serving's external behaviour on its own half_plus_two test model (y = 0.5x + 2), over REST and
gRPC only, so the same tests can be pointed at a real tensorflow_model_server (see conftest.py)."""

from __future__ import annotations

import json

import grpc
import pytest
import requests
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

pytestmark = pytest.mark.slow


def post(target, path: str, body) -> requests.Response:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post(f"{target.rest_url}{path}", data=data, timeout=30)


def error_of(reply: requests.Response) -> str:
    assert reply.headers["Content-Type"].startswith("application/json")
    return reply.json()["error"]


# --- status and metadata ------------------------------------------------------------------------

def test_status_lists_every_version_newest_first(half_plus_two) -> None:
    reply = requests.get(f"{half_plus_two.rest_url}/v1/models/half_plus_two", timeout=10)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json")
    ok = {"error_code": "OK", "error_message": ""}
    assert reply.json() == {"model_version_status": [
        {"version": "124", "state": "AVAILABLE", "status": ok},
        {"version": "123", "state": "AVAILABLE", "status": ok}]}


def test_status_of_one_version(half_plus_two) -> None:
    reply = requests.get(f"{half_plus_two.rest_url}/v1/models/half_plus_two/versions/123", timeout=10)
    assert [v["version"] for v in reply.json()["model_version_status"]] == ["123"]


def test_metadata_matches_tf_serving(half_plus_two, tf_serving_testdata) -> None:
    expected = json.loads((tf_serving_testdata / "saved_model_half_plus_two_2_versions_metadata.json").read_text())
    reply = requests.get(f"{half_plus_two.rest_url}/v1/models/half_plus_two/versions/123/metadata", timeout=10)
    assert reply.status_code == 200
    got = reply.json()
    assert got["model_spec"] == {"name": "half_plus_two", "signature_name": "", "version": "123"}
    assert got["metadata"] == expected["metadata"]


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/v1/models/nope", 404, "Could not find any versions of model nope"),
    ("/v1/models/half_plus_two/versions/50", 404, "Could not find version 50 of model half_plus_two"),
    ("/v1/models", 400, "Missing model name in request."),
    ("/v1/models/nope/metadata", 404, "Servable not found for request: Latest(nope)"),
])
def test_status_errors(half_plus_two, path: str, status: int, message: str) -> None:
    reply = requests.get(f"{half_plus_two.rest_url}{path}", timeout=10)
    assert (reply.status_code, error_of(reply)) == (status, message)


# --- predict ------------------------------------------------------------------------------------

def test_predict_row_and_columnar(half_plus_two) -> None:
    rows = post(half_plus_two, "/v1/models/half_plus_two:predict", {"instances": [[1.0], [2.0], [5.0]]})
    assert rows.status_code == 200 and rows.json() == {"predictions": [[2.5], [3.0], [4.5]]}
    columns = post(half_plus_two, "/v1/models/half_plus_two:predict", {"inputs": {"x": [[1.0], [3.0]]}})
    assert columns.json() == {"outputs": [[2.5], [3.5]]}
    single = post(half_plus_two, "/v1/models/half_plus_two:predict", {"inputs": [[4.0]]})
    assert single.json() == {"outputs": [[4.0]]}


def test_predict_by_version_label_and_signature(half_plus_two) -> None:
    body = {"signature_name": "serving_default", "instances": [{"x": [1.0]}]}
    for path in ("/versions/123", "/versions/124", "/labels/stable"):
        reply = post(half_plus_two, f"/v1/models/half_plus_two{path}:predict", body)
        assert reply.json() == {"predictions": [[2.5]]}


def test_classify_and_regress_from_examples(half_plus_two) -> None:
    classify = post(half_plus_two, "/v1/models/half_plus_two:classify",
                    {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}, {"x": 3.0}]})
    assert classify.status_code == 200 and classify.json() == {"results": [[["", 2.5]], [["", 3.5]]]}
    regress = post(half_plus_two, "/v1/models/half_plus_two:regress",
                   {"signature_name": "regress_x_to_y", "context": {"x": 4.0}, "examples": [{}]})
    assert regress.status_code == 200 and regress.json() == {"results": [4.0]}


FLOAT_ERROR = ("Failed to process element: 0 of 'instances' list. Error: INVALID_ARGUMENT: JSON Value: \"a\" "
               "Type: String is not of expected type: float")


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    ("/v1/models/nope:predict", {"instances": [[1.0]]}, 404, "Servable not found for request: Latest(nope)"),
    ("/v1/models/half_plus_two/versions/50:predict", {"instances": [[1.0]]}, 404,
     "Servable not found for request: Specific(half_plus_two, 50)"),
    ("/v1/models/half_plus_two/labels/nope:predict", {"instances": [[1.0]]}, 400,
     "Unrecognized servable version label: nope"),
    ("/v1/models/half_plus_two:predict", "", 400, "JSON Parse error: The document is empty"),
    ("/v1/models/half_plus_two:predict", {"signature_name": "nope", "instances": [[1.0]]}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ("/v1/models/half_plus_two:predict", {"instances": [["a"]]}, 400, FLOAT_ERROR),
    ("/v1/models/half_plus_two:predict", {"signature_name": 5, "instances": [[1.0]]}, 400, None),
    ("/v1/models/half_plus_two:predict", {"instance": [[1.0]]}, 400, "Missing 'inputs' or 'instances' key"),
    ("/v1/models/half_plus_two:predict", {"instances": [[1.0]], "inputs": [[1.0]]}, 400, None),
    ("/v1/models/half_plus_two:predict", {"instances": [[1.0], [1.0, 2.0]]}, 400,
     "Failed to process element: 1 of 'instances' list. Error: INVALID_ARGUMENT: Expecting tensor size: 1 but got: 2"),
    ("/v1/models/half_plus_two:predict", {"inputs": {"y": [[1.0]]}}, 400, "Missing named input: x in 'inputs' object."),
    ("/v1/models/half_plus_two:classify", {"examples": [{"x": 1.0}]}, 400, None),  # predict signature
    ("/v1/models/half_plus_two:nope", {"instances": [[1.0]]}, 400, "Malformed request: POST /v1/models/half_plus_two:nope"),
])
def test_malformed_requests_get_tf_serving_errors(half_plus_two, path, body, status, message) -> None:
    reply = post(half_plus_two, path, body)
    assert reply.status_code == status
    error = error_of(reply)
    if message is not None:
        assert error == message
    else:
        assert error
    # ... and the model keeps serving
    assert post(half_plus_two, "/v1/models/half_plus_two:predict", {"instances": [[1.0]]}).status_code == 200


def test_bad_json_names_the_offset(half_plus_two) -> None:
    reply = post(half_plus_two, "/v1/models/half_plus_two:predict", '{"instances": [1.0,')
    assert reply.status_code == 400 and error_of(reply).startswith("JSON Parse error: ")


def test_both_keys_message(half_plus_two) -> None:
    reply = post(half_plus_two, "/v1/models/half_plus_two:predict", {"instances": [[1.0]], "inputs": [[1.0]]})
    assert error_of(reply).endswith("Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist ")


# --- gRPC ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def channel(half_plus_two):
    with grpc.insecure_channel(half_plus_two.grpc_target) as channel:
        yield channel


def predict_request(version: int | None = None, signature: str = "") -> predict_pb2.PredictRequest:
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    if version:
        request.model_spec.version.value = version
    request.model_spec.signature_name = signature
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([[1.0], [2.0]], dtype=tf.float32))
    return request


def test_grpc_predict_reports_version_and_signature(channel) -> None:
    import tensorflow as tf

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    reply = stub.Predict(predict_request(), timeout=30)
    assert tf.make_ndarray(reply.outputs["y"]).tolist() == [[2.5], [3.0]]
    assert (reply.model_spec.name, reply.model_spec.version.value, reply.model_spec.signature_name) == \
        ("half_plus_two", 124, "serving_default")
    assert stub.Predict(predict_request(version=123), timeout=30).model_spec.version.value == 123


def test_grpc_classify_regress_and_metadata(channel) -> None:
    from tensorflow.core.example import example_pb2

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    example = example_pb2.Example()
    example.features.feature["x"].float_list.value.append(2.0)
    classify = classification_pb2.ClassificationRequest()
    classify.model_spec.name, classify.model_spec.signature_name = "half_plus_two", "classify_x_to_y"
    classify.input.example_list.examples.append(example)
    assert stub.Classify(classify, timeout=30).result.classifications[0].classes[0].score == 3.0
    regress = regression_pb2.RegressionRequest()
    regress.model_spec.name, regress.model_spec.signature_name = "half_plus_two", "regress_x_to_y"
    regress.input.example_list.examples.append(example)
    assert stub.Regress(regress, timeout=30).result.regressions[0].value == 3.0
    metadata_request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    metadata_request.model_spec.name = "half_plus_two"
    metadata = stub.GetModelMetadata(metadata_request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert signatures.signature_def["serving_default"].method_name == "tensorflow/serving/predict"
    assert metadata.model_spec.version.value == 124


def test_grpc_status_and_errors(channel) -> None:
    models = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "half_plus_two"
    states = {s.version: s.state for s in models.GetModelStatus(request, timeout=30).model_version_status}
    available = get_model_status_pb2.ModelVersionStatus.AVAILABLE
    assert states == {123: available, 124: available}
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    with pytest.raises(grpc.RpcError) as missing:
        stub.Predict(predict_request(version=50), timeout=30)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert missing.value.details() == "Servable not found for request: Specific(half_plus_two, 50)"
    with pytest.raises(grpc.RpcError) as signature:
        stub.Predict(predict_request(signature="nope"), timeout=30)
    assert signature.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_metrics_page_in_tf_serving_format(half_plus_two) -> None:
    post(half_plus_two, "/v1/models/half_plus_two:predict", {"instances": [[1.0]]})
    page = requests.get(f"{half_plus_two.rest_url}/monitoring/prometheus/metrics", timeout=10).text
    assert "# TYPE :tensorflow:serving:request_count counter" in page
    assert '\n:tensorflow:serving:request_count{model_name="half_plus_two",status="OK"} ' in page
    assert (':tensorflow:serving:request_latency_bucket{model_name="half_plus_two",API="predict",entrypoint="REST",'
            'le="10"} ') in page
    assert ':tensorflow:cc:saved_model:load_attempt_count{model_path=' in page
    assert "_total" not in page and "# HELP" not in page
