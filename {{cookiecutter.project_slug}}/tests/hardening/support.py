"""Helpers of the hardening tests: the generated TF1 model (y = 0.5x + 2, input x [-1, 1]) as `hp2`,
requests for it, and the API key `certs` wrote."""

from __future__ import annotations

from pathlib import Path

from tensorflow_serving.apis import predict_pb2

from embedded_tfserving.auth import read_api_keys
from embedded_tfserving.testing import place_version

MODEL = "hp2"
PREDICT_BODY = b'{"instances": [[1.0], [2.0]]}'


def predict_request(values: list[float]) -> predict_pb2.PredictRequest:
    """A gRPC predict for hp2 with one row per value."""
    import tensorflow as tf

    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["x"].CopyFrom(tf.make_tensor_proto([[v] for v in values], dtype=tf.float32))
    return request


def model_folder(root: Path, version_dir: Path) -> Path:
    """root/hp2 holding `version_dir` as version 1."""
    place_version(version_dir, root / MODEL, 1)
    return root / MODEL


def api_key(certs: dict[str, Path]) -> str:
    return read_api_keys(certs["api_keys.txt"])[0]
