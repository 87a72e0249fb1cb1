"""The gRPC path's TensorProto <-> numpy conversions give exactly what tf.make_ndarray and TF
Serving's typed reply fields give, for every dtype and shape form a client can send."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from embedded_tfserving.tensor_protos import fill, to_array

DTYPES = [np.float32, np.float64, np.int32, np.int16, np.int8, np.uint8, np.uint16, np.int64, np.uint32, np.uint64,
          np.bool_, object, np.float16, np.complex64]  # the last two: make_ndarray's own path
SHAPES = [(), (0,), (3,), (2, 3), (1, 0, 2)]


def _values(dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape))
    if dtype is object:
        return np.array([f"s{i}é".encode() for i in range(count)], dtype=object).reshape(shape)
    if dtype is np.bool_:
        return (np.arange(count) % 2 == 0).reshape(shape)
    return (np.arange(count) * 3 - 1).astype(dtype).reshape(shape)


def _protos(array: np.ndarray) -> list[tensor_pb2.TensorProto]:
    """The forms a client sends: make_tensor_proto's (tensor_content for numbers), the typed field
    holding every value, one value (make_ndarray fills the rest with it), and none (zeros)."""
    made = tf.make_tensor_proto(array)
    typed = tf.make_tensor_proto(array)
    forms = [made]
    field = {"float32": "float_val", "float64": "double_val", "int64": "int64_val", "uint32": "uint32_val",
             "uint64": "uint64_val", "bool": "bool_val", "object": "string_val"}.get(array.dtype.name, "int_val")
    if typed.tensor_content and array.dtype.kind in "fiub" and array.dtype != np.float16:
        typed.ClearField("tensor_content")
        getattr(typed, field).extend(array.ravel().tolist())
        forms.append(typed)
    for kept in (1, 0):
        short = tensor_pb2.TensorProto()
        short.CopyFrom(forms[-1])
        if not short.tensor_content:
            values = getattr(short, field, None)
            if values is not None and len(values) > kept:
                del values[kept:]
                forms.append(short)
    return forms


@pytest.mark.parametrize(("dtype", "shape"), list(itertools.product(DTYPES, SHAPES)))
def test_to_array_is_make_ndarray(dtype: type, shape: tuple[int, ...]) -> None:
    for proto in _protos(_values(dtype, shape)):
        expected, got = tf.make_ndarray(proto), to_array(proto)
        assert (got.dtype, got.shape) == (expected.dtype, expected.shape), proto
        assert got.tolist() == expected.tolist(), proto
        assert got.flags.writeable  # a copy, never a view of the request's bytes


def test_malformed_content_fails_as_make_ndarray_fails() -> None:
    proto = tf.make_tensor_proto(np.zeros((2, 3), np.float32))
    proto.tensor_content = proto.tensor_content[:-4]
    with pytest.raises(ValueError):
        tf.make_ndarray(proto)
    with pytest.raises(ValueError):
        to_array(proto)


@pytest.mark.parametrize(("dtype", "shape"), list(itertools.product(DTYPES, SHAPES)))
def test_fill_writes_the_typed_field_and_reads_back(dtype: type, shape: tuple[int, ...]) -> None:
    array = _values(dtype, shape)
    proto = tensor_pb2.TensorProto()
    fill(proto, array)
    assert proto.dtype == tf.dtypes.as_dtype(array.dtype).as_datatype_enum
    assert [d.size for d in proto.tensor_shape.dim] == list(shape)
    if dtype not in (np.float16, np.complex64):  # AsProtoField: values in the typed field, as TF Serving replies
        assert not proto.tensor_content
    back = tf.make_ndarray(proto)
    assert (back.dtype, back.tolist()) == (array.dtype, array.tolist())


def test_fill_writes_a_string_scalar_as_string_val() -> None:
    proto = tensor_pb2.TensorProto()
    fill(proto, np.asarray(b"yes"))  # what Servable.run gives for a 0-d string output
    assert (proto.dtype, list(proto.string_val), list(proto.tensor_shape.dim)) == (types_pb2.DT_STRING, [b"yes"], [])
