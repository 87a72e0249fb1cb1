"""Helpers of the server's tests: reading the metrics page with prometheus_client's parser, and
the plain test model (y = 0.5x + 2) the hostile-input tests send requests to."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

MODEL = "hp2"
PREDICT_BODY = b'{"instances": [[1.0], [2.0]]}'


def metric_total(page: str, family: str, **labels: str) -> float:
    """Sum of the samples of `family` (a sample name, e.g. a histogram's `_bucket`) whose labels include `labels`."""
    total = 0.0
    for metric in text_string_to_metric_families(page):
        for sample in metric.samples:
            name = sample.name.removesuffix("_total") if metric.type == "counter" else sample.name
            if name == family and labels.items() <= sample.labels.items():
                total += sample.value
    return total


def raw_predict_request(shape: list[int], values: list[float], model: str = MODEL) -> predict_pb2.PredictRequest:
    """A PredictRequest whose declared shape need not match its values: hostile tensors are built
    from the proto types, since tf.make_tensor_proto refuses to build them."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in shape]
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), float_val=values))
    return request
