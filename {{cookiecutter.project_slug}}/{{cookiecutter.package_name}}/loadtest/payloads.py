"""Request pools built once per Locust process from the schema and the synthetic generator.

The hot path only picks a pre-built body: JSON bytes for REST, a PredictRequest for gRPC, so the
load generator spends its CPU on sending, not on building requests.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # tensorflow_serving imports TensorFlow; only gRPC users pay for it.
    from tensorflow_serving.apis.predict_pb2 import PredictRequest

SIGNATURE = "serving_default"


def _features(rows: int, pool: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """pool * rows synthetic rows, shaped [pool, rows, 13] and [pool, rows, 26]."""
    from ..data.schema import load_schema
    from ..data.synthetic import generate

    if rows < 1 or pool < 1:
        raise ValueError(f"rows per request ({rows}) and pool size ({pool}) must be at least 1")
    schema = load_schema()
    features = generate(schema, rows * pool, seed)
    dense = np.asarray(features.dense, dtype=np.float32).reshape(pool, rows, len(schema.dense))
    categorical = np.asarray(features.categorical).astype(str).reshape(pool, rows, len(schema.categorical))
    return dense, categorical


def rest_bodies(rows: int = 1, pool: int = 256, seed: int = 0) -> list[bytes]:
    """Row-format predict bodies: {"instances": [{"dense": [...], "categorical": [...]}, ...]}."""
    dense, categorical = _features(rows, pool, seed)
    # float32 -> 6 decimals keeps bodies short without changing what the model sees much.
    dense_lists = np.round(dense.astype(np.float64), 6).tolist()
    bodies = []
    for dense_rows, categorical_rows in zip(dense_lists, categorical.tolist()):
        instances = [{"dense": d, "categorical": c} for d, c in zip(dense_rows, categorical_rows)]
        bodies.append(json.dumps({"instances": instances}, separators=(",", ":")).encode())
    return bodies


def grpc_requests(model_name: str, rows: int = 1, pool: int = 256, seed: int = 0) -> list[PredictRequest]:
    """PredictRequests for the serving_default signature (no version: the newest serves)."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
    from tensorflow_serving.apis import predict_pb2

    def tensor(dtype: int, shape: tuple[int, ...]) -> Any:
        dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in shape]
        return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims))

    dense, categorical = _features(rows, pool, seed)
    requests = []
    for dense_rows, categorical_rows in zip(dense, categorical):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = SIGNATURE
        dense_tensor = tensor(types_pb2.DT_FLOAT, dense_rows.shape)
        dense_tensor.float_val.extend(dense_rows.ravel().tolist())
        categorical_tensor = tensor(types_pb2.DT_STRING, categorical_rows.shape)
        categorical_tensor.string_val.extend(s.encode() for s in categorical_rows.ravel())
        request.inputs["dense"].CopyFrom(dense_tensor)
        request.inputs["categorical"].CopyFrom(categorical_tensor)
        requests.append(request)
    return requests
