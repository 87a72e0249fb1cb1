"""Warmup records: requests TF Serving replays while loading a version, before it serves traffic.

Without them the first real requests pay for graph initialization (a latency spike after every
deploy). The file is a TFRecord of PredictionLog protos in `<version>/assets.extra/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..contract import grpc_predict_request
from ..data.schema import Schema
from ..data.synthetic import generate

if TYPE_CHECKING:
    from tensorflow_serving.apis.predict_pb2 import PredictRequest

WARMUP_FILE = "tf_serving_warmup_requests"
MAX_RECORDS = 1000  # TF Serving refuses to load a version with more


def warmup_requests(schema: Schema, model_name: str, count: int = 100, max_rows: int = 8,
                    seed: int = 12345) -> Iterator[PredictRequest]:
    """`count` PredictRequests of 1..max_rows synthetic rows, so several batch shapes get warmed."""
    if not 1 <= count <= MAX_RECORDS:
        raise ValueError(f"warmup request count must be between 1 and {MAX_RECORDS}, got {count}")
    sizes = [1 + i % max_rows for i in range(count)]
    features = generate(schema, sum(sizes), seed)
    start = 0
    for size in sizes:
        yield grpc_predict_request(model_name, features.take(slice(start, start + size)))
        start += size


def write_warmup(path: Path, schema: Schema, model_name: str, count: int = 100) -> int:
    """Write the warmup TFRecord; returns the number of records."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in warmup_requests(schema, model_name, count):
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
            written += 1
    return written


def read_warmup_requests(path: Path) -> list[PredictRequest]:
    """The PredictRequest of every record, in order."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    return [prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
            for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]


def request_arrays(request: PredictRequest) -> dict[str, np.ndarray]:
    """A request's inputs as numpy arrays keyed by input name."""
    import tensorflow as tf

    return {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
