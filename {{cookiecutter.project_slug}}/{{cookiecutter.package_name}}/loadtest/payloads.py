"""The project's payload hook for the load-test toolkit (--requests hook:{{ cookiecutter.package_name }}.loadtest.payloads,
the locustfile's default): request pools built from the schema and the synthetic generator.

The hot path only picks a pre-built request: JSON bytes for REST, a PredictRequest for gRPC, so
the load generator spends its CPU on sending, not on building requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..contract import grpc_predict_request, rest_predict_body
from ..data.schema import Features, load_schema
from ..data.synthetic import generate
from ..errors import LoadTestError

if TYPE_CHECKING:  # tensorflow_serving imports TensorFlow; only gRPC users pay for it.
    from tensorflow_serving.apis.predict_pb2 import PredictRequest


def _requests(rows: int, pool: int, seed: int) -> list[Features]:
    """`pool` requests of `rows` synthetic rows each."""
    if rows < 1 or pool < 1:
        raise LoadTestError(f"rows per request ({rows}) and pool size ({pool}) must be at least 1")
    features = generate(load_schema(), rows * pool, seed)
    return [features.take(slice(i * rows, (i + 1) * rows)) for i in range(pool)]


def rest_bodies(model_name: str = "", rows: int = 1, pool: int = 256, seed: int = 0) -> list[bytes]:
    """Row-format predict bodies (contract.rest_predict_body); the body names no model."""
    return [rest_predict_body(features) for features in _requests(rows, pool, seed)]


def grpc_requests(model_name: str, rows: int = 1, pool: int = 256, seed: int = 0) -> list[PredictRequest]:
    """PredictRequests for serving_default with no version: the newest AVAILABLE one serves."""
    return [grpc_predict_request(model_name, features) for features in _requests(rows, pool, seed)]
