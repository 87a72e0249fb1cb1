"""TensorProto <-> numpy on the request path, as TF Serving's clients and tf.make_ndarray see it.

`to_array` is tf.make_ndarray where it cannot differ from it, without its per-call dtype lookups
(a third of a gRPC Predict's request code): a numeric tensor_content, or a typed field holding
exactly one value per element; any other proto (padding a short field, half, complex, quantized
types, a malformed one) goes through tf.make_ndarray itself. `fill` writes a reply tensor as TF
Serving's Tensor::AsProtoField does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from tensorflow.core.framework import tensor_shape_pb2, types_pb2

# DataType -> (numpy dtype, the typed field TF Serving's AsProtoField writes and make_ndarray reads).
# Clients that read `outputs["y"].float_val` rely on replies using the typed field, not tensor_content.
_FIELDS: dict[int, tuple[np.dtype, str]] = {
    types_pb2.DT_FLOAT: (np.dtype(np.float32), "float_val"),
    types_pb2.DT_DOUBLE: (np.dtype(np.float64), "double_val"),
    types_pb2.DT_INT32: (np.dtype(np.int32), "int_val"),
    types_pb2.DT_INT16: (np.dtype(np.int16), "int_val"),
    types_pb2.DT_INT8: (np.dtype(np.int8), "int_val"),
    types_pb2.DT_UINT8: (np.dtype(np.uint8), "int_val"),
    types_pb2.DT_UINT16: (np.dtype(np.uint16), "int_val"),
    types_pb2.DT_INT64: (np.dtype(np.int64), "int64_val"),
    types_pb2.DT_UINT32: (np.dtype(np.uint32), "uint32_val"),
    types_pb2.DT_UINT64: (np.dtype(np.uint64), "uint64_val"),
    types_pb2.DT_BOOL: (np.dtype(np.bool_), "bool_val"),
    types_pb2.DT_STRING: (np.dtype(object), "string_val"),
}
_ENUMS = {dtype: enum for enum, (dtype, _) in _FIELDS.items()}


def to_array(proto: Any) -> np.ndarray:
    """The TensorProto as tf.make_ndarray returns it (raises as it raises)."""
    known = _FIELDS.get(proto.dtype)
    if known is not None:
        dtype, field = known
        shape = [d.size for d in proto.tensor_shape.dim]
        content = proto.tensor_content
        if content and field != "string_val":
            if len(content) == math.prod(shape) * dtype.itemsize:
                return np.frombuffer(content, dtype=dtype).copy().reshape(shape)
        elif not content:
            values = getattr(proto, field)
            if len(values) == math.prod(shape):
                if field == "string_val":
                    array = np.empty(len(values), dtype=object)
                    array[:] = values
                    return array.reshape(shape)
                return np.fromiter(values, dtype=dtype, count=len(values)).reshape(shape)
    import tensorflow as tf

    return tf.make_ndarray(proto)


def fill(proto: Any, array: np.ndarray) -> None:
    """`array` into `proto` as TF Serving's default serialization writes it (AsProtoField)."""
    enum = types_pb2.DT_STRING if array.dtype.kind in "SU" else _ENUMS.get(array.dtype)  # a 0-d string: "S"
    if enum is None:  # half, complex, ...: tensor_content, which every client reads through make_ndarray
        import tensorflow as tf

        proto.CopyFrom(tf.make_tensor_proto(array))
        return
    proto.dtype = enum
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=size) for size in array.shape)
    getattr(proto, _FIELDS[enum][1]).extend(array.ravel().tolist())
