"""Request sources: a JSON file in TF Serving's REST format, the model's warmup records and a
payload hook, each as REST bodies and as PredictRequests (the same tensors either way)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from tfserving_loadtest import sources
from tfserving_loadtest.errors import LoadTestError

SIGNATURES = {"serving_default": {"x": "DT_FLOAT"}, "words": {"text": "DT_STRING", "n": "DT_INT64"}}


def test_the_forms_of_requests_are_told_apart():
    assert sources.parse("hook:my.payloads") == sources.Hook("my.payloads")
    assert sources.parse("warmup:models/m/1") == sources.Warmup(Path("models/m/1"))
    assert sources.parse("json:body.txt") == sources.JsonFile(Path("body.txt"))
    assert sources.parse("requests.json") == sources.JsonFile(Path("requests.json"))
    for bad in ("", "hook:", "requests.txt", "csv:x"):
        with pytest.raises(LoadTestError, match="names no request source"):
            sources.parse(bad)


def test_a_json_body_becomes_the_predict_request_the_server_would_read():
    rows = sources.rest_to_grpc({"instances": [1.0, 2.0, 5.0]}, "m", SIGNATURES)
    assert rows.model_spec.name == "m" and rows.model_spec.signature_name == "serving_default"
    np.testing.assert_array_equal(tf.make_ndarray(rows.inputs["x"]), np.array([1.0, 2.0, 5.0], np.float32))
    columns = sources.rest_to_grpc({"signature_name": "words", "inputs": {"text": [["a", {"b64": "/w=="}]], "n": [[3]]}},
                                   "m", SIGNATURES)
    assert tf.make_ndarray(columns.inputs["text"]).tolist() == [[b"a", b"\xff"]]
    assert tf.make_ndarray(columns.inputs["n"]).dtype == np.int64
    with pytest.raises(LoadTestError, match="has no signature 'other'"):
        sources.rest_to_grpc({"signature_name": "other", "instances": [1.0]}, "m", SIGNATURES)
    with pytest.raises(LoadTestError, match="does not fit signature 'serving_default'"):
        sources.rest_to_grpc({"instances": ["text"]}, "m", SIGNATURES)


def test_a_predict_request_becomes_a_columnar_body_with_the_same_tensors():
    request = sources.rest_to_grpc({"signature_name": "words", "inputs": {"text": [["é", {"b64": "/w=="}]], "n": [[3]]}},
                                   "m", SIGNATURES)
    body = json.loads(sources.grpc_to_rest(request))
    assert body == {"inputs": {"text": [["é", {"b64": "/w=="}]], "n": [[3]]}, "signature_name": "words"}
    assert sources.rest_to_grpc(body, "m", SIGNATURES) == request  # and back


def test_a_request_file_is_read_and_checked(tmp_path, request_file):
    assert [json.loads(b) for b in sources.JsonFile(request_file).rest_bodies("m", 1, 256, 0)] == \
        json.loads(request_file.read_text())
    with pytest.raises(LoadTestError, match="holds its own rows"):
        sources.JsonFile(request_file).rest_bodies("m", 4, 256, 0)
    for text, message in (("{", "is not JSON"), ('{"rows": []}', "is not a predict body"), ("[]", "holds no request")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(LoadTestError, match=message):
            sources.JsonFile(tmp_path / "bad.json").rest_bodies("m", 1, 1, 0)
    with pytest.raises(LoadTestError, match="cannot be read"):
        sources.JsonFile(tmp_path / "missing.json").rest_bodies("m", 1, 1, 0)


def test_warmup_records_give_their_predict_requests_for_the_named_model(tmp_path):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "as-exported"
    request.model_spec.version.value = 7
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.5]], np.float32)))
    version = tmp_path / "1"
    (version / sources.WARMUP_FILE).parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(version / sources.WARMUP_FILE)) as writer:
        writer.write(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
                     .SerializeToString())
        writer.write(prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog()).SerializeToString())
    (found,) = sources.Warmup(version).grpc_requests("served", 1, 256, 0)
    assert found.model_spec.name == "served" and not found.model_spec.HasField("version")
    assert found.inputs["x"] == request.inputs["x"]
    assert json.loads(sources.Warmup(version / sources.WARMUP_FILE).rest_bodies("served", 1, 256, 0)[0]) == \
        {"inputs": {"x": [[1.5]]}}
    with pytest.raises(LoadTestError, match="no warmup records at"):
        sources.Warmup(tmp_path).grpc_requests("m", 1, 1, 0)
    (tmp_path / "junk").write_bytes(b"not a record")
    with pytest.raises(LoadTestError, match="is not a file of TFRecord PredictionLogs"):
        sources.Warmup(tmp_path / "junk").grpc_requests("m", 1, 1, 0)


def test_a_payload_hook_builds_the_pools(tmp_path, monkeypatch):
    (tmp_path / "my_payloads.py").write_text(
        "def rest_bodies(model_name, rows, pool, seed):\n"
        "    return [b'{\"instances\": [%d]}' % (rows + seed)] * pool\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sources.Hook("my_payloads").rest_bodies("m", 3, 2, 1) == [b'{"instances": [4]}'] * 2
    with pytest.raises(LoadTestError, match="has no function grpc_requests"):
        sources.Hook("my_payloads").grpc_requests("m", 1, 1, 0)
    with pytest.raises(LoadTestError, match="cannot be imported"):
        sources.Hook("no_such_payloads_module").rest_bodies("m", 1, 1, 0)
    sys.modules.pop("my_payloads", None)
