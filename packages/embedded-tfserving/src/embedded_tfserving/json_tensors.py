"""One JSON value -> one tensor, as TF Serving's json_tensor.cc converts them, and base64 as absl
decodes it.

A fast numpy path takes values that are plainly well-formed; anything doubtful goes through a
port of TF Serving's element-by-element walk (FillTensorProto), which produces its error messages
word for word.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import numpy as np
import orjson

from .errors import ServingError, invalid
from .json_messages import as_rapidjson_number, json_type, json_value_string

# DataType enum name -> numpy dtype, for the types TF Serving's JSON API converts.
NUMPY_DTYPES: dict[str, Any] = {
    "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32, "DT_INT16": np.int16,
    "DT_INT8": np.int8, "DT_UINT8": np.uint8, "DT_INT64": np.int64, "DT_BOOL": np.bool_,
    "DT_UINT32": np.uint32, "DT_UINT64": np.uint64, "DT_STRING": np.object_,
}
# Types TF Serving cannot read from JSON values, yet builds (empty) tensors of from an empty list.
_EMPTY_ONLY_DTYPES: dict[str, Any] = {
    "DT_HALF": np.float16, "DT_UINT16": np.uint16, "DT_COMPLEX64": np.complex64, "DT_COMPLEX128": np.complex128,
}
# rapidjson's IsInt / IsInt64 / IsUint / IsUint64 ranges; int8/int16/uint8 are read as int32 and
# narrowed with a C cast, so out-of-range values wrap.
_INT_RANGES = {"DT_INT32": (-2**31, 2**31 - 1), "DT_INT16": (-2**31, 2**31 - 1), "DT_INT8": (-2**31, 2**31 - 1),
               "DT_UINT8": (-2**31, 2**31 - 1), "DT_INT64": (-2**63, 2**63 - 1),
               "DT_UINT32": (0, 2**32 - 1), "DT_UINT64": (0, 2**64 - 1)}
_NARROWED_FROM_INT32 = ("DT_INT8", "DT_INT16", "DT_UINT8")


def dtype_string(dtype: str) -> str:
    """tensorflow::DataTypeString of a DataType enum name: "DT_FLOAT" -> "float"."""
    return dtype[3:].lower()


def type_error(value: Any, dtype: str) -> ServingError:
    return invalid(f"JSON Value: {json_value_string(value)} Type: {json_type(value)} is not of expected type: "
                   f"{dtype_string(dtype)}")


def _unimplemented(value: Any, dtype: str) -> ServingError:
    return ServingError("UNIMPLEMENTED", f"Conversion of JSON Value: {json_value_string(value)} to type: "
                                         f"{dtype_string(dtype)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def utf8(text: str) -> bytes:
    """A JSON string's bytes; raw non-UTF-8 bytes the parser kept as surrogate escapes come back as they were."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        try:
            return text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return text.encode("utf-8", "surrogatepass")


def _scalar(value: Any, dtype: str) -> Any:
    """AddValueToTensor: one JSON value as an element of `dtype` (floats take any number, as GetFloat)."""
    if dtype in ("DT_FLOAT", "DT_DOUBLE"):
        if not _is_number(value):
            raise type_error(value, dtype)
        return float(as_rapidjson_number(value)) if isinstance(value, int) else value
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise type_error(value, dtype)
        return value
    if dtype == "DT_STRING":
        if not isinstance(value, str):
            raise type_error(value, dtype)
        return utf8(value)
    if dtype == "DT_BOOL":
        if not isinstance(value, bool):
            raise type_error(value, dtype)
        return value
    raise _unimplemented(value, dtype)


# --- base64 -------------------------------------------------------------------------------------

_BASE64_SPACE = re.compile(r"[ \t\n\v\f\r]+")
_BASE64_DATA = re.compile(r"[A-Za-z0-9+/]*")
_PADDING = {0: 0, 2: 2, 3: 1}  # data characters mod 4 -> padding characters expected


def base64_unescape(text: str) -> bytes | None:
    """absl::Base64Unescape: the standard alphabet (not the web-safe one); ASCII whitespace anywhere
    is skipped; after the data only padding ('=' or '.') and whitespace may follow, and either no
    padding or exactly as much as the data length calls for. None where absl returns false."""
    compact = _BASE64_SPACE.sub("", text)
    data_end = _BASE64_DATA.match(compact).end()  # type: ignore[union-attr]
    padding = compact[data_end:]
    expected = _PADDING.get(data_end % 4)
    if expected is None or padding.strip("=.") or len(padding) not in (0, expected):
        return None
    data = compact[:data_end]
    return base64.b64decode(data + "=" * (-len(data) % 4))


def is_base64_object(value: Any) -> bool:
    """IsValBase64Object: an object whose only key is "b64", holding a string."""
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def decode_base64(value: Any) -> bytes:
    """JsonDecodeBase64Object."""
    if not is_base64_object(value):
        raise invalid(f"JSON Value: {json_value_string(value)} not formatted correctly for base64 data")
    decoded = base64_unescape(value["b64"])
    if decoded is None:
        raise invalid("Unable to base64 decode")
    return decoded


# --- the walk -----------------------------------------------------------------------------------

def _dense_shape(value: Any) -> list[int]:
    """GetDenseTensorShape: the sizes along the first element of each level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, dtype: str, shape: list[int], out: list[Any]) -> None:
    """FillTensorProto."""
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


def _to_array(values: list[Any], shape: list[int], dtype: str, value: Any) -> np.ndarray:
    if dtype == "DT_STRING":
        array = np.empty(len(values), dtype=object)
        array[:] = values
    elif dtype in _NARROWED_FROM_INT32:
        array = np.asarray(values, dtype=np.int32).astype(NUMPY_DTYPES[dtype])
    elif dtype in NUMPY_DTYPES:
        array = np.asarray(values, dtype=NUMPY_DTYPES[dtype])
    elif dtype in _EMPTY_ONLY_DTYPES:  # no elements, so no conversion was refused
        array = np.zeros(0, dtype=_EMPTY_ONLY_DTYPES[dtype])
    else:
        raise _unimplemented(value, dtype)
    return array.reshape(shape)


def walk(value: Any, dtype: str) -> np.ndarray:
    """TF Serving's conversion, element by element, with its error messages."""
    shape: list[int] = _dense_shape(value)
    out: list[Any] = []
    _fill(value, 0, dtype, shape, out)
    return _to_array(out, shape, dtype, value)


# --- the fast path ------------------------------------------------------------------------------

def _holds_bools(value: Any) -> bool:
    """numpy reads true/false among numbers as 1/0, where TF Serving refuses them."""
    try:
        text = orjson.dumps(value)
    except orjson.JSONEncodeError:
        return True  # not plain JSON numbers: let the walk decide
    return b"true" in text or b"false" in text


def _fast_numbers(array: np.ndarray, value: Any, dtype: str, literals: bool) -> np.ndarray | None:
    kind = array.dtype.kind
    if kind in "fi" and literals and _holds_bools(value):
        return None
    if dtype in ("DT_FLOAT", "DT_DOUBLE") and kind in "fi":
        with np.errstate(over="ignore"):  # beyond float32's range is +-inf, as static_cast<float>
            # via double, as rapidjson's GetFloat() reads an integer
            return array.astype(np.float64, copy=False).astype(NUMPY_DTYPES[dtype], copy=False)
    if dtype in ("DT_INT64", "DT_INT32") and kind == "i":
        low, high = _INT_RANGES[dtype]
        if array.size and (array.min() < low or array.max() > high):
            return None
        return array.astype(NUMPY_DTYPES[dtype], copy=False)
    return None


def _fast_strings(value: Any) -> np.ndarray | None:
    """A string tensor straight from nested lists of str: an object array of their UTF-8 bytes. Not
    through numpy's str arrays: those cost a copy, a type check and an encode per element more."""
    if isinstance(value, str):
        leaves = [value]
        shape: tuple[int, ...] = ()
    else:
        try:
            array = np.asarray(value, dtype=object)
        except (ValueError, RecursionError):  # ragged nesting
            return None
        leaves, shape = array.ravel().tolist(), array.shape
    try:  # str.encode refuses numbers, bools, lists (ragged nesting) and {"b64": ...}: one pass checks and encodes
        encoded = list(map(str.encode, leaves))
    except TypeError:
        return None
    except UnicodeEncodeError:  # raw non-UTF-8 bytes, kept as lone surrogates: the walk restores them
        return None
    out = np.empty(len(encoded), dtype=object)
    out[:] = encoded
    return out.reshape(shape)


def fast(value: Any, dtype: str, literals: bool = True) -> np.ndarray | None:
    """numpy's conversion when it cannot differ from TF Serving's; None when in doubt. `literals`:
    whether true/false may occur in `value` (False when the request body has none)."""
    if dtype == "DT_STRING":
        return _fast_strings(value)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError, RecursionError):
        return None
    kind = array.dtype.kind
    if dtype == "DT_BOOL" and kind == "b":
        return array
    return _fast_numbers(array, value, dtype, literals)


def json_to_array(value: Any, dtype: str, literals: bool = True) -> np.ndarray:
    """One JSON value (scalar or nested list) as a tensor of `dtype`; TF Serving's errors."""
    converted = fast(value, dtype, literals)
    return converted if converted is not None else walk(value, dtype)
