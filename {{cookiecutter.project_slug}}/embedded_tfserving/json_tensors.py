"""One JSON value <-> one tensor, as TF Serving's json_tensor.cc converts them.

A fast numpy path takes values that are plainly well-formed; anything doubtful goes through a
port of TF Serving's element-by-element walk, which produces its error messages word for word.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

import numpy as np

from .errors import ServingError, invalid
from .json_messages import FLOAT32_MAX, json_type, json_value_string

# DataType enum name -> numpy dtype, for the types TF Serving's JSON API converts.
NUMPY_DTYPES: dict[str, Any] = {
    "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32, "DT_INT16": np.int16,
    "DT_INT8": np.int8, "DT_UINT8": np.uint8, "DT_INT64": np.int64, "DT_BOOL": np.bool_,
    "DT_UINT32": np.uint32, "DT_UINT64": np.uint64, "DT_STRING": np.object_,
}
_INT_RANGES = {"DT_INT32": (-2**31, 2**31 - 1), "DT_INT16": (-2**31, 2**31 - 1), "DT_INT8": (-2**31, 2**31 - 1),
               "DT_UINT8": (-2**31, 2**31 - 1), "DT_INT64": (-2**63, 2**63 - 1),
               "DT_UINT32": (0, 2**32 - 1), "DT_UINT64": (0, 2**64 - 1)}
_FLOAT32_MAX_INT = 2**24 - 1
_FLOAT64_MAX_INT = 2**53 - 1
# TF Serving reads these as 32-bit ints and narrows them with a C cast, so out-of-range values wrap.
_NARROWED_FROM_INT32 = ("DT_INT8", "DT_INT16", "DT_UINT8")


def type_error(value: Any, dtype: str) -> ServingError:
    return invalid(f"JSON Value: {json_value_string(value)} Type: {json_type(value)} is not of expected type: "
                   f"{dtype[3:].lower() if dtype != 'DT_STRING' else 'string'}")


def lossless(value: int | float, single: bool) -> bool:
    """Whether a JSON number fits float32 (`single`) or float64 without losing precision."""
    if isinstance(value, float):
        return not math.isfinite(value) or not single or abs(value) <= FLOAT32_MAX
    return abs(value) <= (_FLOAT32_MAX_INT if single else _FLOAT64_MAX_INT)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unimplemented(value: Any, dtype: str) -> ServingError:
    return ServingError("UNIMPLEMENTED", f"Conversion of JSON Value: {json_value_string(value)} to type: {dtype[3:].lower()}")


def _scalar(value: Any, dtype: str) -> Any:
    if dtype in ("DT_FLOAT", "DT_DOUBLE"):
        if not _is_number(value):
            raise type_error(value, dtype)
        if not lossless(value, dtype == "DT_FLOAT"):
            target = "float" if dtype == "DT_FLOAT" else "double"
            raise invalid(f"Cannot convert JSON value: {json_value_string(value)} to {target} without loss of precision.")
        return value
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise type_error(value, dtype)
        return value
    if dtype == "DT_STRING":
        if not isinstance(value, str):
            raise type_error(value, dtype)
        return value.encode()
    if dtype == "DT_BOOL":
        if not isinstance(value, bool):
            raise type_error(value, dtype)
        return value
    raise _unimplemented(value, dtype)


def is_base64_object(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def decode_base64(value: Any) -> bytes:
    if not is_base64_object(value):
        raise invalid(f"JSON Value: {json_value_string(value)} not formatted correctly for base64 data")
    try:
        return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, ValueError):
        try:  # absl also accepts web-safe and unpadded base64
            text = value["b64"]
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise invalid("Unable to base64 decode") from None


def _dense_shape(value: Any) -> list[int]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, dtype: str, shape: list[int], out: list[Any]) -> None:
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid(f"JSON Value: {json_value_string(value)} found at incorrect level: {level + 1} "
                          f"in the JSON DOM. Expected at level: {rank}")
        if isinstance(value, dict):
            if dtype != "DT_STRING":
                raise type_error(value, dtype)
            out.append(decode_base64(value))
        else:
            out.append(_scalar(value, dtype))
        return
    if level >= rank:
        raise invalid(f"Encountered list at unexpected level: {level} expected < {rank}")
    if len(value) != shape[level]:
        raise invalid(f"Encountered list at unexpected size: {len(value)} at level: {level} "
                      f"expected size: {shape[level]}")
    for item in value:
        _fill(item, level + 1, dtype, shape, out)


def _to_array(values: list[Any], shape: list[int], dtype: str) -> np.ndarray:
    if dtype == "DT_STRING":
        array = np.empty(len(values), dtype=NUMPY_DTYPES[dtype])
        array[:] = values
    elif dtype in _NARROWED_FROM_INT32:
        array = np.asarray(values, dtype=np.int32).astype(NUMPY_DTYPES[dtype])
    else:
        array = np.asarray(values, dtype=NUMPY_DTYPES[dtype])
    return array.reshape(shape)


def walk(value: Any, dtype: str) -> np.ndarray:
    """TF Serving's conversion, element by element, with its error messages."""
    if dtype not in NUMPY_DTYPES:
        raise _unimplemented(value, dtype)
    shape: list[int] = _dense_shape(value)
    out: list[Any] = []
    _fill(value, 0, dtype, shape, out)
    return _to_array(out, shape, dtype)


def fast(value: Any, dtype: str) -> np.ndarray | None:
    """numpy's conversion when it cannot differ from TF Serving's; None when in doubt."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    kind = array.dtype.kind
    if dtype in ("DT_FLOAT", "DT_DOUBLE"):
        if kind == "f":
            if dtype == "DT_FLOAT" and array.size and np.nanmax(np.abs(np.where(np.isinf(array), 0, array))) > FLOAT32_MAX:
                return None
            return array.astype(NUMPY_DTYPES[dtype], copy=False)
        limit = _FLOAT32_MAX_INT if dtype == "DT_FLOAT" else _FLOAT64_MAX_INT
        if kind == "i" and (not array.size or np.abs(array).max() <= limit):
            return array.astype(NUMPY_DTYPES[dtype])
        return None
    if dtype in ("DT_INT64", "DT_INT32") and kind == "i":
        low, high = _INT_RANGES[dtype]
        if array.size and (array.min() < low or array.max() > high):
            return None
        return array.astype(NUMPY_DTYPES[dtype], copy=False)
    if dtype == "DT_STRING" and kind == "U":
        return np.char.encode(array, "utf-8").astype(object) if array.size else array.astype(object)
    if dtype == "DT_BOOL" and kind == "b":
        return array
    return None


def json_to_array(value: Any, dtype: str) -> np.ndarray:
    """One JSON value (scalar or nested list) as a tensor of `dtype`; TF Serving's errors."""
    converted = fast(value, dtype)
    return converted if converted is not None else walk(value, dtype)
