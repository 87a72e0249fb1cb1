"""The project's model on the embedded server: both APIs answer with the contract's signature."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from embedded_tfserving.process import ServerProcess

from {{ cookiecutter.package_name }}.contract import OUTPUT, grpc_predict_request, rest_predict_body
from {{ cookiecutter.package_name }}.data.synthetic import generate

pytestmark = pytest.mark.slow


def test_ctr_model_serves_through_both_apis(published_model, schema, tmp_path: Path) -> None:
    flags = [f"--model_name={published_model.name}", f"--model_base_path={published_model.base_path}"]
    rows = generate(schema, 3, seed=5)
    with ServerProcess(flags, tmp_path / "server.log") as server:
        server.start()
        reply = requests.post(f"{server.rest_url}/v1/models/{published_model.name}:predict",
                              data=rest_predict_body(rows), timeout=60)
        assert reply.status_code == 200, reply.text
        predictions = reply.json()["predictions"]
        assert len(predictions) == 3 and all(0.0 <= p <= 1.0 for p in predictions)
        with grpc.insecure_channel(server.grpc_target) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            answer = stub.Predict(grpc_predict_request(published_model.name, rows), timeout=60)
        probabilities = tf.make_ndarray(answer.outputs[OUTPUT])
        assert answer.model_spec.version.value == published_model.version
        assert probabilities.tolist() == pytest.approx(predictions, abs=1e-6)  # the same rows, either API
        metadata = requests.get(f"{server.rest_url}/v1/models/{published_model.name}/metadata", timeout=30).json()
        inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
        assert inputs["dense"]["dtype"] == "DT_FLOAT" and inputs["categorical"]["dtype"] == "DT_STRING"
