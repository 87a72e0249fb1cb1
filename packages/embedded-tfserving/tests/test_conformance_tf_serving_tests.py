"""Cases taken from TF Serving's own tests, one expectation each, as an HTTP or gRPC client sees it.

Each case names the test it comes from (tensorflow_serving/...). They run on TF Serving's
half_plus_two test model (see conftest.py: versions 123 and 124, label stable -> 123) and on
`example_signatures`, a model generated here whose signatures return what classifier_test.cc and
regressor_test.cc make their fake sessions return. Expectations about TF Serving's C++ internals
(fake sessions that fail, thread pools, the method-name check switched on, the TFLite and UDS
paths) have no client-visible form and are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import place_version

from .conftest import Target

pytestmark = pytest.mark.slow
HPT = "/v1/models/half_plus_two"


def post(url: str, body: Any) -> requests.Response:
    return requests.post(url, data=body if isinstance(body, (str, bytes)) else json.dumps(body), timeout=30)


def error_of(reply: requests.Response) -> str:
    assert reply.headers["Content-Type"].startswith("application/json"), reply.headers
    message: str = reply.json()["error"]
    return message


# --- REST: http_rest_api_handler_test.cc and tensorflow_model_server_test.py ---------------------

@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/foo"), ("POST", "/v1/foo"), ("GET", "/v1/models/debug/model_name"), ("POST", "/v1/models"),
    ("GET", "/v1/models/foo:predict"), ("GET", "/v1/models/foo/version/50:predict"),
    ("POST", "/v1/models/foo/version/50:regress"), ("POST", "/v1/models/foo/versions/HELLO:regress"),
    ("POST", "/v1/models/foo/metadata"), ("POST", "/v1/models/foo/label/some_label:regress"),
    ("POST", "/v1/models/foo/versions/50/labels/some_label:regress"), ("POST", "/v1/models/foo/versions/some_label:regress"),
])
def test_unsupported_api_calls(half_plus_two: Target, method: str, path: str) -> None:
    # http_rest_api_handler_test.cc UnsupportedApiCalls
    reply = requests.request(method, half_plus_two.rest_url + path, timeout=30)
    assert reply.status_code == 400
    assert error_of(reply) == f"Malformed request: {method} {path}"


def test_missing_model_name_and_version_beyond_int64(half_plus_two: Target) -> None:
    # http_rest_api_handler_test.cc UnsupportedApiCalls
    reply = requests.get(half_plus_two.rest_url + "/v1/models", timeout=30)
    assert (reply.status_code, error_of(reply)) == (400, "Missing model name in request.")
    too_big = 2**64 - 1
    reply = post(f"{half_plus_two.rest_url}/v1/models/foo/versions/{too_big}:regress", "")
    assert (reply.status_code, error_of(reply)) == (400, f"Failed to convert version: {too_big} to numeric.")
    assert post(f"{half_plus_two.rest_url}{HPT}/versions/{2**63 - 1}:predict", {"instances": [1.0]}).status_code == 404


@pytest.mark.parametrize("path", ["/v1/models/foo:predict", "/v1/models/foo/versions/50:predict",
                                  "/v1/models/half_plus_two99:predict", f"{HPT}/versions/50:predict"])
def test_predict_model_name_version_errors(half_plus_two: Target, path: str) -> None:
    # http_rest_api_handler_test.cc PredictModelNameVersionErrors
    assert post(half_plus_two.rest_url + path, {"instances": [1]}).status_code == 404


@pytest.mark.parametrize(("path", "body", "fragment"), [
    (f"{HPT}:predict", "", "JSON Parse error: The document is empty"),
    (f"{HPT}:predict", "instances = [1, 2]", "JSON Parse error: Invalid value"),
    (f"{HPT}:predict", {"instances": ["x", "y"]}, "not of expected type: float"),
    (f"{HPT}/labels/nope:predict", {"instances": ["x", "y"]}, "Unrecognized servable version label"),
    (f"{HPT}:predict", {"signature_name": 100}, "'signature_name' key must be a string value."),
])
def test_predict_request_errors(half_plus_two: Target, path: str, body: Any, fragment: str) -> None:
    # http_rest_api_handler_test.cc PredictRequestErrors
    reply = post(half_plus_two.rest_url + path, body)
    assert reply.status_code == 400
    assert fragment in error_of(reply)


@pytest.mark.parametrize(("path", "body", "expected"), [
    # http_rest_api_handler_test.cc Predict: the [-1,1] input takes other shapes, as TF Serving's session does
    (f"{HPT}:predict", {"instances": [[1.0, 2.0], [3.0, 4.0]]}, {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    (f"{HPT}/versions/123:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    (f"{HPT}/labels/stable:predict", {"instances": [1.0, 2.0]}, {"predictions": [2.5, 3.0]}),
    (f"{HPT}/versions/123:predict", {"signature_name": "serving_default", "instances": [3.0, 4.0]},
     {"predictions": [3.5, 4.0]}),
    (f"{HPT}/versions/123:predict", {"signature_name": "serving_default", "inputs": [3.0, 4.0]}, {"outputs": [3.5, 4.0]}),
    # tensorflow_model_server_test.py testPredictREST, testPredictColumnarREST
    (f"{HPT}:predict", {"instances": [2.0, 3.0, 4.0]}, {"predictions": [3.0, 3.5, 4.0]}),
    (f"{HPT}:predict", {"inputs": [2.0, 3.0, 4.0]}, {"outputs": [3.0, 3.5, 4.0]}),
    # http_rest_api_handler_test.cc Regress and Classify; tensorflow_model_server_test.py testClassifyREST, testRegressREST
    (f"{HPT}:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, {"results": [42.0]}),
    (f"{HPT}/versions/123:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, {"results": [42.0]}),
    (f"{HPT}/labels/stable:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 80.0}]}, {"results": [42.0]}),
    (f"{HPT}:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}, {"results": [3.0]}),
    (f"{HPT}:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 20.0}]}, {"results": [[["", 12.0]]]}),
    (f"{HPT}/labels/stable:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 10.0}]},
     {"results": [[["", 7.0]]]}),
    (f"{HPT}:classify", {"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}, {"results": [[["", 3.0]]]}),
])
def test_rest_inference(half_plus_two: Target, path: str, body: Any, expected: Any) -> None:
    reply = post(half_plus_two.rest_url + path, body)
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == expected


@pytest.mark.parametrize("path", [f"{HPT}/labels/stable", f"{HPT}/labels/nope", HPT])
def test_status_ignores_a_version_label(half_plus_two: Target, path: str) -> None:
    # get_model_status_impl.cc: GetModelStatusWithModelSpec reads the version, never the label, so a
    # label (known or not) lists every version (http_rest_api_handler_test.cc GetStatus serves one)
    reply = requests.get(half_plus_two.rest_url + path, timeout=30)
    assert reply.status_code == 200
    assert [v["version"] for v in reply.json()["model_version_status"]] == ["124", "123"]


def test_metadata_through_a_label_names_its_version(half_plus_two: Target) -> None:
    # http_rest_api_handler_test.cc GetModelMetadata; a label resolves as for inference (ServableRequestFromModelSpec)
    reply = requests.get(f"{half_plus_two.rest_url}{HPT}/labels/stable/metadata", timeout=30)
    assert reply.status_code == 200 and reply.json()["model_spec"]["version"] == "123"


def test_model_name_is_matched_percent_encoded(half_plus_two: Target) -> None:
    # http_rest_api_util.cc ParseModelInfo: the name is matched as sent, then decoded (curl_easy_unescape)
    assert post(f"{half_plus_two.rest_url}/v1/models/half%5Fplus%5Ftwo:predict", {"instances": [1.0]}).json() == \
        {"predictions": [2.5]}
    reply = post(f"{half_plus_two.rest_url}/v1/models/a%2Fb:predict", {"instances": [1.0]})
    assert (reply.status_code, error_of(reply)) == (404, "Servable not found for request: Latest(a/b)")


# --- gRPC Predict: predict_util_test.cc and tensorflow_model_server_test.py ----------------------

@pytest.fixture(scope="module")
def stubs(half_plus_two: Target) -> Iterator[tuple[Any, Any]]:
    with grpc.insecure_channel(half_plus_two.grpc_target) as channel:
        yield (prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel))


def predict_request(inputs: dict[str, Any] | None = None, signature: str = "", version: int = 123,
                    output_filter: tuple[str, ...] = ()) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(output_filter=list(output_filter))
    request.model_spec.name, request.model_spec.signature_name = "half_plus_two", signature
    request.model_spec.version.value = version
    for alias, proto in (inputs or {}).items():
        request.inputs[alias].CopyFrom(proto)
    return request


def scalar(value: Any, dtype: Any = tf.float32) -> Any:
    return tf.make_tensor_proto(value, dtype=dtype)


@dataclass
class Failure:
    code: grpc.StatusCode
    details: str


def rpc_error(call: Any, *args: Any) -> Failure:
    """How `call(*args)` fails (a stub method takes a request; the helpers here take more)."""
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, timeout=30)
    return Failure(caught.value.code(), caught.value.details() or "")


@pytest.mark.parametrize(("request_", "code", "message"), [
    # predict_util_test.cc EmptyInputList
    (predict_request(), "INVALID_ARGUMENT",
     "input size does not match signature: 0!=1 len({}) != len({x}). Sent extra: {}. Missing but required: {x}."),
    # predict_util_test.cc InputTensorsDontMatchModelSpecInputs
    (predict_request({"unknown_key1": tf.make_tensor_proto(["any_value"]), "unknown_key2": scalar([1.0])}),
     "INVALID_ARGUMENT", "input size does not match signature: 2!=1 len({unknown_key1,unknown_key2}) != len({x}). "
                         "Sent extra: {unknown_key1,unknown_key2}. Missing but required: {x}."),
    # saved_model/util.cc GetInputValues: as many inputs as the signature, but another name
    (predict_request({"z": scalar(2.0)}), "INVALID_ARGUMENT",
     "Signature input alias: x(feed name: x:0) not found in request and no default value provided. Inputs expected "
     "to be in the request {z}, or default input alias set: "),
    # predict_util_test.cc PredictionInvalidTensor, InputTensorsHaveWrongType
    (predict_request({"x": scalar(True, tf.bool)}), "INVALID_ARGUMENT", "Expects arg[0] to be float but bool is provided"),
    (predict_request({"x": tf.make_tensor_proto(["any_value"])}, output_filter=("y",)), "INVALID_ARGUMENT",
     "Expects arg[0] to be float but string is provided"),
    # predict_util_test.cc OutputFiltersDontMatchModelSpecOutputs
    (predict_request({"x": scalar(2.0)}, output_filter=("output_filter",)), "INVALID_ARGUMENT",
     "output tensor alias not found in signature: output_filter Outputs expected to be in the set {y}."),
    (predict_request({"x": scalar(2.0)}, output_filter=("y", "y")), "INVALID_ARGUMENT", "duplicate output tensor alias: y"),
    # predict_util.cc RunPredict
    (predict_request({"x": scalar(2.0)}, signature="nope"), "FAILED_PRECONDITION", 'Serving signature key "nope" not found.'),
])
def test_predict_errors(stubs: Any, request_: Any, code: str, message: str) -> None:
    error = rpc_error(stubs[0].Predict, request_)
    assert (error.code.name, error.details) == (code, message)


def test_predict_scalar_success(stubs: Any) -> None:
    # predict_util_test.cc PredictionSuccess: a scalar in, a scalar out, values in float_val
    reply = stubs[0].Predict(predict_request({"x": scalar(2.0)}), timeout=30)
    assert (reply.model_spec.name, reply.model_spec.version.value, reply.model_spec.signature_name) == \
        ("half_plus_two", 123, "serving_default")
    y = reply.outputs["y"]
    assert (y.dtype, list(y.float_val), len(y.tensor_shape.dim), y.tensor_content) == (types_pb2.DT_FLOAT, [3.0], 0, b"")


@pytest.mark.parametrize(("signature", "alias", "output"), [
    ("regress_x2_to_y3", "inputs", "outputs"),  # predict_util_test.cc PredictionWithNamedRegressionSignature
    ("classify_x2_to_y3", "inputs", "scores"),  # predict_util_test.cc PredictionWithNamedClassificationSignature
])
def test_predict_on_classify_and_regress_signatures(stubs: Any, signature: str, alias: str, output: str) -> None:
    reply = stubs[0].Predict(predict_request({alias: scalar(2.0)}, signature=signature), timeout=30)
    assert list(reply.outputs[output].float_val) == [4.0] and reply.model_spec.signature_name == signature


@pytest.mark.parametrize("output_filter", [("y",), ()])
def test_predict_fills_the_typed_field(stubs: Any, output_filter: tuple[str, ...]) -> None:
    # tensorflow_model_server_test_base.py VerifyPredictRequest: float_val holds the values (AsProtoField)
    request = predict_request({"x": scalar([2.0])}, signature="serving_default", output_filter=output_filter)
    request.model_spec.ClearField("version")
    reply = stubs[0].Predict(request, timeout=30)
    assert reply.outputs["y"].dtype == types_pb2.DT_FLOAT and list(reply.outputs["y"].float_val) == [3.0]
    assert reply.model_spec.version.value == 124
    rows = stubs[0].Predict(predict_request({"x": scalar([[1.0], [2.0], [5.0]])}), timeout=30).outputs["y"]
    assert list(rows.float_val) == [2.5, 3.0, 4.5] and [d.size for d in rows.tensor_shape.dim] == [3, 1]


@pytest.mark.parametrize(("service", "method", "request_"), [
    (0, "Predict", predict_pb2.PredictRequest()),  # predict_util_test.cc MissingOrEmptyModelSpec
    (0, "Classify", classification_pb2.ClassificationRequest()),  # classification_service.cc
    (0, "Regress", regression_pb2.RegressionRequest()),  # regression_service.cc
    (0, "GetModelMetadata", get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])),
    # get_model_status_impl_test.cc MissingOrEmptyModelSpecFailure
    (1, "GetModelStatus", get_model_status_pb2.GetModelStatusRequest()),
])
def test_missing_model_spec(stubs: Any, service: int, method: str, request_: Any) -> None:
    error = rpc_error(getattr(stubs[service], method), request_)
    assert (error.code, error.details) == (grpc.StatusCode.INVALID_ARGUMENT, "Missing ModelSpec")


def test_model_spec_without_a_name(stubs: Any) -> None:
    # predict_util_test.cc MissingOrEmptyModelSpec; server_core.cc ServableRequestFromModelSpec
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = "serving_default"
    error = rpc_error(stubs[0].Predict, request)
    assert (error.code, error.details) == (grpc.StatusCode.INVALID_ARGUMENT, "ModelSpec has no name specified.")


def status_request(name: str, version: int | None = None, label: str = "") -> Any:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = name
    if version is not None:
        request.model_spec.version.value = version
    if label:
        request.model_spec.version_label = label
    return request


def test_model_status(stubs: Any) -> None:
    states = stubs[1].GetModelStatus(status_request("half_plus_two"), timeout=30).model_version_status
    # get_model_status_impl_test.cc AllVersionsSuccess
    assert {s.version for s in states} == {123, 124}
    assert all((s.status.error_code, s.status.error_message) == (0, "") for s in states)
    # get_model_status_impl_test.cc SingleVersionSuccess
    assert [s.version for s in stubs[1].GetModelStatus(status_request("half_plus_two", 123), timeout=30)
            .model_version_status] == [123]
    # get_model_status_impl.cc: the label is not read
    assert len(stubs[1].GetModelStatus(status_request("half_plus_two", label="nope"), timeout=30).model_version_status) == 2


@pytest.mark.parametrize(("request_", "message"), [
    (status_request("nonexistent_model"), "Could not find any versions of model nonexistent_model"),  # InvalidModelNameFailure
    (status_request("half_plus_two", 999), "Could not find version 999 of model half_plus_two"),  # InvalidModelVersionFailure
    (status_request(""), "Could not find any versions of model "),  # the name is not checked here
])
def test_model_status_not_found(stubs: Any, request_: Any, message: str) -> None:
    # get_model_status_impl_test.cc
    error = rpc_error(stubs[1].GetModelStatus, request_)
    assert (error.code, error.details) == (grpc.StatusCode.NOT_FOUND, message)


# --- classify and regress: classifier_test.cc, regressor_test.cc ---------------------------------

def _example(**features: float) -> Any:
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for name, value in features.items():
        example.features.feature[name].float_list.value.append(value)
    return example


def classify(stub: Any, model: str, signature: str, *examples: Any, timeout: float = 30) -> Any:
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    request.input.example_list.examples.extend(examples)
    return stub.Classify(request, timeout=timeout)


def regress(stub: Any, model: str, signature: str, *examples: Any, timeout: float = 30) -> Any:
    request = regression_pb2.RegressionRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    request.input.example_list.examples.extend(examples)
    return stub.Regress(request, timeout=timeout)


@pytest.mark.parametrize(("call", "signature", "message"), [
    # classifier.cc / regressor.cc with the method-name check off (TF Serving's default)
    (classify, "serving_default", "No classification inputs found in SignatureDef: "),
    (regress, "serving_default", "No regression inputs found in SignatureDef: "),
    (classify, "regress_x_to_y", 'Expected classification signature outputs to contain at least one of "classes" or '
                                 '"scores". Signature was: '),
    (regress, "classify_x_to_y", "No regression outputs found in SignatureDef: "),
    (classify, "nope", "No signature was found with the name: nope"),  # classifier_test.cc InvalidNamedSignature
    (regress, "nope", "No signature was found with the name: nope"),  # regressor_test.cc InvalidNamedSignature
])
def test_classify_regress_on_other_signatures(stubs: Any, call: Any, signature: str, message: str) -> None:
    error = rpc_error(call, stubs[0], "half_plus_two", signature, _example(x=1.0))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details.startswith(message)
    if "SignatureDef" in message or "Signature was" in message:  # SignatureDef::DebugString(), the text format
        assert 'method_name: "tensorflow/serving/' in error.details and "\n" in error.details


def test_empty_input(stubs: Any) -> None:
    # classifier_test.cc EmptyInput, EmptyExampleList; regressor_test.cc EmptyInput, EmptyExampleList
    for call, signature in ((classify, "classify_x_to_y"), (regress, "regress_x_to_y")):
        error = rpc_error(call, stubs[0], "half_plus_two", signature)
        assert (error.code, error.details) == (grpc.StatusCode.INVALID_ARGUMENT, "Input is empty.")


def write_example_signatures_model(version_dir: Path) -> Path:
    """A model whose signatures take serialized tf.Examples ("inputs") and return what classifier_test.cc
    and regressor_test.cc make their fake sessions return, well-formed or not."""

    def parse(inputs: tf.Tensor) -> tf.Tensor:
        features = {"x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}
        return tf.io.parse_example(inputs, features)["x"]  # [n, 1]

    def signature(build: Any) -> Any:
        return tf.function(lambda inputs: build(parse(inputs)), input_signature=[tf.TensorSpec([None], tf.string)])

    def rows(x: tf.Tensor, extra: int = 0) -> tf.Tensor:
        return tf.shape(x)[0] + extra

    classes = lambda x, extra=0: tf.tile(tf.constant([["no", "yes"]]), [rows(x, extra), 1])
    scores = lambda x: tf.concat([1.0 - x, x], axis=1)
    builds = {
        "classes_and_scores": lambda x: {"classes": classes(x), "scores": scores(x)},
        "classes_only": lambda x: {"classes": classes(x)},
        "scores_only": lambda x: {"scores": scores(x)},
        "zero_scores": lambda x: {"classes": classes(x), "scores": tf.zeros_like(scores(x))},
        "malformed_scores": lambda x: {"scores": tf.reshape(x, [-1])},
        "classes_int": lambda x: {"classes": tf.ones([rows(x), 2], tf.int64), "scores": scores(x)},
        "scores_double": lambda x: {"scores": tf.cast(scores(x), tf.float64)},
        "classes_batch": lambda x: {"classes": classes(x, 1), "scores": scores(x)},
        "scores_batch": lambda x: {"scores": tf.concat([scores(x), [[0.0, 0.0]]], axis=0)},
        "mismatched_classes": lambda x: {"classes": classes(x), "scores": tf.concat([scores(x), x], axis=1)},
        "three_outputs": lambda x: {"classes": classes(x), "scores": scores(x), "other": x},
        "no_classes_or_scores": lambda x: {"probabilities": scores(x)},
        "regress": lambda x: {"outputs": 2.0 * x},
        "regress_rank1": lambda x: {"outputs": tf.reshape(2.0 * x, [-1])},
        "regress_rank3": lambda x: {"outputs": tf.reshape(x, [-1, 1, 1])},
        "regress_batch": lambda x: {"outputs": tf.concat([x, [[0.0]]], axis=0)},
        "regress_double": lambda x: {"outputs": tf.cast(x, tf.float64)},
        "regress_two_outputs": lambda x: {"outputs": x, "other": x},
        "regress_misnamed": lambda x: {"scores": x},
    }
    module = tf.Module()
    signatures = {name: signature(build) for name, build in builds.items()}
    two = tf.function(lambda inputs, other: {"scores": scores(parse(inputs))},
                      input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string)])
    signatures["two_inputs"] = two
    tf.saved_model.save(module, str(version_dir), signatures=signatures)
    return version_dir


@pytest.fixture(scope="module")
def examples_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("example_signatures")
    place_version(write_example_signatures_model(folder / "build" / "1"), folder / "examples", 1)
    with ServerProcess(["--model_name=examples", f"--model_base_path={folder / 'examples'}"],
                       folder / "server.log") as server:
        server.start()
        yield Target(server.rest_url, server.grpc_target, "examples")


@pytest.fixture(scope="module")
def examples_stub(examples_server: Target) -> Iterator[Any]:
    with grpc.insecure_channel(examples_server.grpc_target) as channel:
        yield prediction_service_pb2_grpc.PredictionServiceStub(channel)


def classes_of(reply: Any) -> list[list[tuple[str, float]]]:
    return [[(c.label, round(c.score, 6)) for c in row.classes] for row in reply.result.classifications]


@pytest.mark.parametrize(("signature", "expected"), [
    ("classes_and_scores", [[("no", 0.75), ("yes", 0.25)], [("no", 0.25), ("yes", 0.75)]]),  # ExampleList
    ("classes_only", [[("no", 0.0), ("yes", 0.0)], [("no", 0.0), ("yes", 0.0)]]),  # ClassesOnly
    ("scores_only", [[("", 0.75), ("", 0.25)], [("", 0.25), ("", 0.75)]]),  # ScoresOnly
    ("zero_scores", [[("no", 0.0), ("yes", 0.0)], [("no", 0.0), ("yes", 0.0)]]),  # ZeroScoresArePresent
])
def test_classify_results(examples_stub: Any, signature: str, expected: Any) -> None:
    # classifier_test.cc
    reply = classify(examples_stub, "examples", signature, _example(x=0.25), _example(x=0.75))
    assert classes_of(reply) == expected
    assert (reply.model_spec.name, reply.model_spec.signature_name, reply.model_spec.version.value) == \
        ("examples", signature, 1)


def test_classify_with_context_lets_the_example_win(examples_server: Target) -> None:
    # classifier_test.cc ExampleListWithContext, ExampleListWithContext_DuplicateFeatures
    reply = post(f"{examples_server.rest_url}/v1/models/examples:classify",
                 {"signature_name": "scores_only", "context": {"x": 0.5}, "examples": [{}, {"x": 0.75}]})
    assert reply.json() == {"results": [[["", 0.5], ["", 0.5]], [["", 0.25], ["", 0.75]]]}


@pytest.mark.parametrize(("signature", "message"), [
    ("malformed_scores", "Expected Tensor shape: [batch_size num_classes] but got [2]"),  # MalformedScores
    ("classes_int", "Expected classes Tensor of DT_STRING. Got: DT_INT64"),  # ClassesIncorrectTensorType
    ("scores_double", "Expected scores Tensor of DT_FLOAT. Got: DT_DOUBLE"),  # ScoresIncorrectTensorType
    ("classes_batch", "Expected classes output batch size of 2. Got: 3"),  # ClassesIncorrectTensorBatchSize
    ("scores_batch", "Expected scores output batch size of 2. Got: 3"),  # ScoresIncorrectTensorBatchSize
    ("mismatched_classes", "Tensors class and score should match in dim_size(1). Got 2 vs. 3"),  # MismatchedNumberOfTensorClasses
    ("three_outputs", "Expected one or two output Tensors, found 3"),  # classifier.cc PreProcessClassification
    ("two_inputs", "Expected one input Tensor."),
])
def test_classify_errors(examples_stub: Any, signature: str, message: str) -> None:
    # classifier_test.cc
    error = rpc_error(classify, examples_stub, "examples", signature, _example(x=0.25), _example(x=0.75))
    assert (error.code, error.details) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_classify_without_classes_or_scores_prints_the_signature(examples_stub: Any) -> None:
    # classifier_test.cc MissingClassificationSignature (outputs without classes or scores)
    error = rpc_error(classify, examples_stub, "examples", "no_classes_or_scores", _example(x=0.25))
    assert error.details.startswith('Expected classification signature outputs to contain at least one of "classes" '
                                      'or "scores". Signature was: inputs {\n  key: "inputs"\n')
    assert 'outputs {\n  key: "probabilities"\n' in error.details


@pytest.mark.parametrize(("signature", "expected"), [("regress", [0.5, 1.5]), ("regress_rank1", [0.5, 1.5])])
def test_regress_results(examples_stub: Any, signature: str, expected: list[float]) -> None:
    # regressor_test.cc BasicExampleList, ValidNamedSignature: [batch] or [batch, 1] outputs
    reply = regress(examples_stub, "examples", signature, _example(x=0.25), _example(x=0.75))
    assert [r.value for r in reply.result.regressions] == expected


@pytest.mark.parametrize(("signature", "message"), [
    # MalformedOutputs
    ("regress_rank3", "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got [2,1,1]"),
    ("regress_batch", "Input batch size did not match output batch size: 2 vs. 3"),  # UnexpectedOutputTensorSize
    ("regress_double", "Expected output Tensor of DT_FLOAT.  Got: DT_DOUBLE"),  # UnexpectedOutputTensorType
    ("regress_two_outputs", "Expected one output Tensor."),  # regressor.cc PreProcessRegression
    ("two_inputs", "Expected one input Tensor."),
])
def test_regress_errors(examples_stub: Any, signature: str, message: str) -> None:
    error = rpc_error(regress, examples_stub, "examples", signature, _example(x=0.25), _example(x=0.75))
    assert (error.code, error.details) == (grpc.StatusCode.INVALID_ARGUMENT, message)


def test_regress_on_a_signature_without_outputs_named_outputs(examples_stub: Any) -> None:
    # regressor_test.cc MissingRegressionSignature; regressor.cc PreProcessRegression
    error = rpc_error(regress, examples_stub, "examples", "regress_misnamed", _example(x=0.25))
    assert error.details.startswith("No regression outputs found in SignatureDef: inputs {\n")


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_runtime_error_carries_the_kernel_message_only(half_plus_two: Target, stubs: Any, transport: str) -> None:
    # A failure inside the graph reads as TF Serving's C++ runtime words it: the kernel's message and
    # node, never the Python stack, file paths or traced-function names of the server
    if transport == "rest":
        reply = post(f"{half_plus_two.rest_url}{HPT}:regress", {"signature_name": "regress_x_to_y", "examples": [{"x": "a"}]})
        assert reply.status_code == 400
        message = error_of(reply)
    else:
        from tensorflow.core.example import example_pb2

        example = example_pb2.Example()
        example.features.feature["x"].bytes_list.value.append(b"a")
        error = rpc_error(regress, stubs[0], "half_plus_two", "regress_x_to_y", example)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT
        message = error.details
    assert message.startswith("Name: <unknown>, Key: x, Index: 0.  Data types don't match. Data type: string but "
                              "expected type: float"), message
    assert "most recent call" not in message and 'File "' not in message and "[Op:" not in message
