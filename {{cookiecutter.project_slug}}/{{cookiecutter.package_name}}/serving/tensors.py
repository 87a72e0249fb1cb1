"""JSON <-> tensors exactly as TF Serving's json_tensor.cc: row ("instances") and columnar
("inputs") predict requests, tf.Example lists for classify/regress, and the replies.

Inputs take a fast numpy path when the JSON is plainly well-formed; anything doubtful goes through a
port of TF Serving's element-by-element walk, which produces its error messages word for word.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any

import numpy as np
import orjson

from .errors import ServingError, invalid

# DataType enum name -> numpy dtype, for the types TF Serving's JSON API converts.
NUMPY_DTYPES: dict[str, Any] = {
    "DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32, "DT_INT16": np.int16,
    "DT_INT8": np.int8, "DT_UINT8": np.uint8, "DT_INT64": np.int64, "DT_BOOL": np.bool_,
    "DT_UINT32": np.uint32, "DT_UINT64": np.uint64, "DT_STRING": np.object_,
}
_INT_RANGES = {"DT_INT32": (-2**31, 2**31 - 1), "DT_INT16": (-2**31, 2**31 - 1), "DT_INT8": (-2**31, 2**31 - 1),
               "DT_UINT8": (-2**31, 2**31 - 1), "DT_INT64": (-2**63, 2**63 - 1),
               "DT_UINT32": (0, 2**32 - 1), "DT_UINT64": (0, 2**64 - 1)}
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_FLOAT32_MAX_INT = 2**24 - 1
_FLOAT64_MAX_INT = 2**53 - 1


# --- parsing the body ---------------------------------------------------------------------------

_PARSE_ERRORS = (  # Python's json message prefix -> rapidjson's GetParseError_En
    ("Expecting value", "Invalid value."),
    ("Expecting property name", "Missing a name for object member."),
    ("Expecting ':'", "Missing a colon after a name of object member."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Extra data", "The document root must not be followed by other values."),
    ("Invalid control character", "Invalid encoding in string."),
)


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's top-level JSON object (NaN and Infinity allowed, as rapidjson's flag allows)."""
    if not body.strip():
        raise invalid("JSON Parse error: The document is empty")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:
            doc = json.loads(body)  # accepts NaN / Infinity, which orjson refuses
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise invalid(f"JSON Parse error: {_rapidjson_message(error)}") from None
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {json_value_string(doc)} Is not object")
    return doc


def _rapidjson_message(error: Exception) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"Invalid encoding in string. at offset: {error.start}"
    text = error.msg  # type: ignore[attr-defined]
    message = next((m for prefix, m in _PARSE_ERRORS if text.startswith(prefix)), None)
    if message is None:
        message = "Missing a comma or ']' after an array element." if "]" in text or "," in text else "Invalid value."
    return f"{message} at offset: {error.pos}"  # type: ignore[attr-defined]


def signature_name(doc: dict[str, Any]) -> str:
    value = doc.get("signature_name", "")
    if not isinstance(value, str):
        raise invalid(f"JSON Value: {json_value_string(doc)} not formatted correctly. "
                      "'signature_name' key must be a string value.")
    return value


# --- JSON values as rapidjson prints them in error messages -------------------------------------

def json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def decimal_string(value: float, single: bool = True) -> str:
    """absl::StrCat of a float/double, with TF Serving's round-trip fallback and trailing '.0'."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    cast = np.float32 if single else np.float64
    text = format(cast(value), ".6g")
    if cast(float(text)) != cast(value):
        text = format(cast(value), ".9g" if single else ".17g")
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def json_value_string(value: Any, indent: int = 0) -> str:
    """rapidjson PrettyWriter output (4-space indent), which TF Serving puts in error messages."""
    pad, inner = " " * indent, " " * (indent + 4)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {json_value_string(v, indent + 4)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        return "[\n" + ",\n".join(inner + json_value_string(v, indent + 4) for v in value) + "\n" + pad + "]"
    if isinstance(value, float):
        return decimal_string(value, single=abs(value) <= _FLOAT32_MAX or not math.isfinite(value))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# --- one JSON value -> tensor (TF Serving's walk) -----------------------------------------------

def _type_error(value: Any, dtype: str) -> ServingError:
    return invalid(f"JSON Value: {json_value_string(value)} Type: {json_type(value)} is not of expected type: "
                   f"{dtype[3:].lower() if dtype != 'DT_STRING' else 'string'}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _lossless(value: int | float, single: bool) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value) or not single or abs(value) <= _FLOAT32_MAX
    return abs(value) <= (_FLOAT32_MAX_INT if single else _FLOAT64_MAX_INT)


def _scalar(value: Any, dtype: str) -> Any:
    if dtype in ("DT_FLOAT", "DT_DOUBLE"):
        if not _is_number(value):
            raise _type_error(value, dtype)
        if not _lossless(value, dtype == "DT_FLOAT"):
            target = "float" if dtype == "DT_FLOAT" else "double"
            raise invalid(f"Cannot convert JSON value: {json_value_string(value)} to {target} without loss of precision.")
        return value
    if dtype in _INT_RANGES:
        low, high = _INT_RANGES[dtype]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise _type_error(value, dtype)
        return value
    if dtype == "DT_STRING":
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode()
    if dtype == "DT_BOOL":
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    raise ServingError("UNIMPLEMENTED", f"Conversion of JSON Value: {json_value_string(value)} to type: {dtype[3:].lower()}")


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
                raise _type_error(value, dtype)
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


# TF Serving reads these as 32-bit ints and narrows them with a C cast, so out-of-range values wrap.
_NARROWED_FROM_INT32 = ("DT_INT8", "DT_INT16", "DT_UINT8")


def _to_array(values: list[Any], shape: list[int], dtype: str) -> np.ndarray:
    if dtype == "DT_STRING":
        array = np.empty(len(values), dtype=NUMPY_DTYPES[dtype])
        array[:] = values
    elif dtype in _NARROWED_FROM_INT32:
        array = np.asarray(values, dtype=np.int32).astype(NUMPY_DTYPES[dtype])
    else:
        array = np.asarray(values, dtype=NUMPY_DTYPES[dtype])
    return array.reshape(shape)


def _walk(value: Any, dtype: str) -> np.ndarray:
    if dtype not in NUMPY_DTYPES:
        raise ServingError("UNIMPLEMENTED", f"Conversion of JSON Value: {json_value_string(value)} to type: {dtype[3:].lower()}")
    shape, out = _dense_shape(value), []
    _fill(value, 0, dtype, shape, out)
    return _to_array(out, shape, dtype)


def _fast(value: Any, dtype: str) -> np.ndarray | None:
    """numpy's conversion when it cannot differ from TF Serving's; None when in doubt."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        return None
    kind = array.dtype.kind
    if dtype in ("DT_FLOAT", "DT_DOUBLE"):
        if kind == "f":
            if dtype == "DT_FLOAT" and array.size and np.nanmax(np.abs(np.where(np.isinf(array), 0, array))) > _FLOAT32_MAX:
                return None
            return array.astype(NUMPY_DTYPES[dtype], copy=False)
        if kind == "i" and (not array.size or np.abs(array).max() <= (_FLOAT32_MAX_INT if dtype == "DT_FLOAT" else _FLOAT64_MAX_INT)):
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
    fast = _fast(value, dtype)
    return fast if fast is not None else _walk(value, dtype)


# --- predict request bodies ---------------------------------------------------------------------

def _one_instance(value: Any, name: str, dtype: str, seen: dict[str, tuple[int, tuple[int, ...]]]) -> np.ndarray:
    array = _walk(value, dtype)
    size, shape = array.size, tuple(array.shape)
    if name not in seen:
        seen[name] = (size, shape)
    elif seen[name][0] != size:
        raise invalid(f"Expecting tensor size: {seen[name][0]} but got: {size}")
    elif seen[name][1] != shape:
        raise invalid(f"Expecting shape [{','.join(map(str, seen[name][1]))}] but got: [{','.join(map(str, shape))}]")
    return array


def instances_to_tensors(instances: list[Any], inputs: dict[str, str]) -> dict[str, np.ndarray]:
    """Row format: each element is one example (an object keyed by input name when several)."""
    first_is_object = isinstance(instances[0], dict) and not is_base64_object(instances[0])
    if not isinstance(instances[0], dict) and len(inputs) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple input tensors "
                      "required as per tensorinfo_map")
    fast = _fast_instances(instances, inputs, first_is_object)
    if fast is not None:
        return fast
    names = sorted(inputs)
    rows: dict[str, list[np.ndarray]] = {}
    seen: dict[str, tuple[int, tuple[int, ...]]] = {}
    for index, element in enumerate(instances):
        if first_is_object:
            if not (isinstance(element, dict) and not is_base64_object(element)):
                raise invalid(f"Expecting object but got list at item {index} of input list")
            for key, value in element.items():
                try:
                    if key not in inputs:
                        raise invalid(f"JSON object: does not have named input: {key}")
                    rows.setdefault(key, []).append(_one_instance(value, key, inputs[key], seen))
                except ServingError as error:
                    raise invalid(f"Failed to process element: {index} key: {key} of 'instances' list. "
                                  f"Error: {error}") from None
            if set(element) != set(inputs):
                raise invalid(f"Failed to process element: {index} of 'instances' list. JSON object: "
                              f"{json_value_string(element)} keys must be equal to: {','.join(names)}")
        else:
            if isinstance(element, dict) and not is_base64_object(element):
                raise invalid(f"Expecting value/list but got object at item {index} of input list")
            name = names[0]
            try:
                rows.setdefault(name, []).append(_one_instance(element, name, inputs[name], seen))
            except ServingError as error:
                raise invalid(f"Failed to process element: {index} of 'instances' list. Error: {error}") from None
    return {name: np.stack(arrays) for name, arrays in rows.items()}


def _fast_instances(instances: list[Any], inputs: dict[str, str], objects: bool) -> dict[str, np.ndarray] | None:
    if not objects:
        name = next(iter(inputs))
        array = _fast(instances, inputs[name])
        return None if array is None else {name: array}
    keys = set(inputs)
    if not all(isinstance(i, dict) and i.keys() == keys for i in instances):
        return None
    tensors = {}
    for name, dtype in inputs.items():
        array = _fast([i[name] for i in instances], dtype)
        if array is None:
            return None
        tensors[name] = array
    return tensors


def inputs_to_tensors(value: Any, inputs: dict[str, str]) -> dict[str, np.ndarray]:
    """Columnar format: a value/list for a single input, or an object input name -> tensor."""
    if not isinstance(value, dict) or is_base64_object(value):
        if len(inputs) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple input tensors "
                          "required as per tensorinfo_map")
        name, dtype = next(iter(inputs.items()))
        return {name: json_to_array(value, dtype)}
    tensors = {}
    for name in sorted(inputs):
        if name not in value:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = json_to_array(value[name], inputs[name])
    return tensors


def predict_request_tensors(doc: dict[str, Any], inputs: dict[str, str]) -> tuple[dict[str, np.ndarray], str]:
    """(tensors, "row" | "columnar") from a predict body; `inputs` maps input name -> dtype."""
    if not inputs:
        raise invalid(f"Failed to get input map for signature: {doc.get('signature_name') or 'DEFAULT'}")
    if "instances" in doc:
        if "inputs" in doc:
            raise invalid(f"JSON Value: {json_value_string(doc)} Not formatted correctly expecting only one of "
                          "'inputs' or 'instances' keys to exist ")
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise invalid(f"JSON Value: {json_value_string(doc)} Excepting 'instances' to be an list/array")
        if not instances:
            raise invalid(f"JSON Value: {json_value_string(doc)} No values in 'instances' array")
        return instances_to_tensors(instances, inputs), "row"
    if "inputs" in doc:
        return inputs_to_tensors(doc["inputs"], inputs), "columnar"
    raise invalid("Missing 'inputs' or 'instances' key")


# --- classify / regress request bodies ----------------------------------------------------------

def _feature_kind_error(name: str, kind: str) -> ServingError:
    return invalid(f"Unexpected element type in feature: {name} expecting type: {kind}")


def _add_to_feature(value: Any, name: str, feature: dict[str, list[Any]]) -> None:
    kind = next(iter(feature), None)
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not is_base64_object(value)):
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {json_type(value)}")
    if isinstance(value, bool) or (isinstance(value, int) and not isinstance(value, bool)):
        if kind not in (None, "int64"):
            raise _feature_kind_error(name, {"bytes": "bytes", "float": "float"}[kind])
        if not isinstance(value, bool) and value > 2**63 - 1:
            raise invalid(f"Feature: {name} has uint64 element. Only int64 is supported.")
        feature.setdefault("int64", []).append(int(value))
    elif isinstance(value, float):
        if kind not in (None, "float"):
            raise _feature_kind_error(name, kind)
        if not _lossless(value, True):
            raise invalid(f"Cannot convert JSON value: {json_value_string(value)} to float without loss of precision.")
        feature.setdefault("float", []).append(value)
    else:
        if kind not in (None, "bytes"):
            raise _feature_kind_error(name, kind)
        feature.setdefault("bytes", []).append(decode_base64(value) if isinstance(value, dict) else value.encode())


def example_from_json(value: Any) -> Any:
    """One JSON object as a tf.train.Example (ints/bools -> int64_list, decimals -> float_list, strings -> bytes_list)."""
    from tensorflow.core.example import example_pb2

    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        feature: dict[str, list[Any]] = {}
        for item in content if isinstance(content, list) else [content]:
            _add_to_feature(item, name, feature)
        proto = example.features.feature[name]
        for kind, values in feature.items():
            getattr(proto, f"{kind}_list").value.extend(values)
    return example


def classify_regress_examples(doc: dict[str, Any], method: str) -> tuple[list[Any], Any | None]:
    """(examples, context example or None) from a classify/regress body."""
    context = example_from_json(doc["context"]) if "context" in doc else None
    if "examples" not in doc:
        raise invalid(f"JSON Value: {json_value_string(doc)} When method is {method}, key 'examples' is expected "
                      "and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {json_value_string(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {json_value_string(doc)} 'examples' value is an empty array")
    return [example_from_json(e) for e in examples], context


# --- replies ------------------------------------------------------------------------------------

class _NeedsStdlib(Exception):
    pass


def _jsonable(name: str, array: np.ndarray) -> Any:
    """A tensor ready for orjson; strings decoded, `_bytes` outputs as {"b64": ...}."""
    if array.dtype == object or array.dtype.kind in "SU":
        as_bytes = name.endswith("_bytes")

        def convert(item: Any) -> Any:
            raw = item if isinstance(item, bytes) else str(item).encode()
            return {"b64": base64.b64encode(raw).decode()} if as_bytes else raw.decode("utf-8", "replace")

        return np.vectorize(convert, otypes=[object])(array).tolist() if array.ndim else convert(array.item())
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise _NeedsStdlib
    if array.dtype == np.float16:
        array = array.astype(np.float32)
    return np.ascontiguousarray(array)


def _stdlib_jsonable(array: np.ndarray) -> Any:
    """Floats as Python floats with float32's shortest digits, so NaN/Infinity print like TF Serving."""
    if array.dtype.kind != "f":
        return array.tolist()
    single = array.dtype != np.float64
    return np.vectorize(lambda v: float(decimal_string(float(v), single)) if math.isfinite(v) else float(v),
                        otypes=[object])(array).tolist()


def _encode(build: Any, outputs: dict[str, np.ndarray]) -> bytes:
    try:
        converted = {n: _jsonable(n, a) for n, a in outputs.items()}
    except _NeedsStdlib:
        converted = {n: (_jsonable(n, a) if a.dtype.kind != "f" else _stdlib_jsonable(a)) for n, a in outputs.items()}
        return json.dumps(build(converted), allow_nan=True).encode()
    return orjson.dumps(build(converted), option=orjson.OPT_SERIALIZE_NUMPY)


def predict_reply(outputs: dict[str, np.ndarray], layout: str) -> bytes:
    """{"outputs": ...} for columnar requests, {"predictions": [...]} (one entry per row) for row ones."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    if layout == "columnar":
        return _encode(lambda o: {"outputs": next(iter(o.values())) if len(o) == 1 else o}, outputs)
    batch = -1
    for name, array in outputs.items():
        if array.ndim == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        if batch >= 0 and array.shape[0] != batch:
            raise invalid(f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}")
        batch = array.shape[0]
    if len(outputs) == 1:
        return _encode(lambda o: {"predictions": next(iter(o.values()))}, outputs)
    return _encode(lambda o: {"predictions": [{n: o[n][i] for n in o} for i in range(batch)]}, outputs)


def classify_reply(labels: list[list[str]], scores: list[list[float]]) -> bytes:
    results = [[[label, _float(score)] for label, score in zip(ls, ss)] for ls, ss in zip(labels, scores)]
    return json.dumps({"results": results}, allow_nan=True).encode()


def regress_reply(values: list[float]) -> bytes:
    return json.dumps({"results": [_float(v) for v in values]}, allow_nan=True).encode()


def _float(value: float) -> float:
    return float(decimal_string(value)) if math.isfinite(value) else value
