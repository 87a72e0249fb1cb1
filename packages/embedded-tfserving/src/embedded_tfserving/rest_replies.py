"""REST replies as TF Serving writes them (json_tensor.cc): {"predictions": ...} for row requests,
{"outputs": ...} for columnar ones, {"results": ...} for classify and regress. Floats are written
as TF Serving's WriteDecimal writes them (numbers compared as text match), strings as text,
outputs whose name ends in `_bytes` as {"b64": ...}, and types it cannot write are refused."""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import orjson

from .errors import invalid
from .json_messages import decimal_texts

# numpy dtype name -> tensorflow::DataTypeString, where they differ.
_TF_TYPE_NAMES = {"float16": "half"}
# What AddSingleValueAndAdvance writes; any other type with elements fails the reply.
_WRITABLE = frozenset(np.dtype(name) for name in ("float32", "float64", "int32", "int16", "int8", "uint8", "int64",
                                                  "bool", "uint32", "uint64", "object"))


def _check_writable(array: np.ndarray) -> None:
    if array.dtype not in _WRITABLE and array.size and array.dtype.kind not in "SU":
        name = array.dtype.name
        raise invalid(f"Failed to write JSON value for tensor type: {_TF_TYPE_NAMES.get(name, name)}")


def _is_text(array: np.ndarray) -> bool:
    return array.dtype == object or array.dtype.kind in "SU"


def _nest(texts: list[str], shape: tuple[int, ...], keep: int = 0) -> list[str]:
    """JSON texts of the sub-tensors at depth `keep` of a tensor of `shape`, from the texts of its
    elements (row-major): keep=0 gives the whole tensor's text, keep=1 one text per row."""
    if len(shape) == keep:
        return texts
    for depth in range(len(shape) - 1, keep - 1, -1):
        size, groups = shape[depth], math.prod(shape[:depth])
        texts = ["[" + ",".join(texts[i * size:(i + 1) * size]) + "]" for i in range(groups)]
    return texts


def _strings(name: str, array: np.ndarray) -> Any:
    as_bytes = name.endswith("_bytes")

    def convert(item: Any) -> Any:
        raw = item if isinstance(item, bytes) else str(item).encode()
        return {"b64": base64.b64encode(raw).decode()} if as_bytes else raw.decode("utf-8", "replace")

    return np.vectorize(convert, otypes=[object])(array).tolist() if array.ndim else convert(array.item())


def _whole(name: str, array: np.ndarray) -> Any:
    """The tensor ready for orjson: floats as WriteDecimal text, strings converted, scalars as scalars."""
    if array.dtype.kind == "f":
        return orjson.Fragment(_nest(decimal_texts(array), array.shape)[0])
    if _is_text(array):
        return _strings(name, array)
    return array.item() if array.ndim == 0 else np.ascontiguousarray(array)


def _rows(name: str, array: np.ndarray) -> list[Any]:
    """The tensor's entries along its batch dimension, each ready for orjson."""
    if array.dtype.kind == "f":
        return [orjson.Fragment(text) for text in _nest(decimal_texts(array), array.shape, keep=1)]
    if _is_text(array):
        return list(_strings(name, array))
    return list(np.ascontiguousarray(array))


def _dumps(body: dict[str, Any]) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def predict_reply(outputs: dict[str, np.ndarray], layout: str) -> bytes:
    """{"outputs": ...} for columnar requests, {"predictions": [...]} (one entry per row) for row ones."""
    if not outputs:
        raise invalid("Cannot convert empty tensor map to JSON")
    outputs = {name: np.asarray(value) for name, value in outputs.items()}  # a string scalar comes as bytes
    if layout == "columnar":
        for array in outputs.values():
            _check_writable(array)
        columns = {name: _whole(name, array) for name, array in outputs.items()}
        return _dumps({"outputs": next(iter(columns.values())) if len(columns) == 1 else columns})
    batch = -1
    for name, array in outputs.items():
        if array.ndim == 0:
            raise invalid(f"Tensor name: {name} has no shape information ")
        if batch >= 0 and array.shape[0] != batch:
            raise invalid(f"Tensor name: {name} has inconsistent batch size: {array.shape[0]} expecting: {batch}")
        batch = array.shape[0]
    for array in outputs.values():
        _check_writable(array)
    if len(outputs) == 1:
        name, array = next(iter(outputs.items()))
        return _dumps({"predictions": _whole(name, array)})
    rows = {name: _rows(name, array) for name, array in outputs.items()}
    return _dumps({"predictions": [{name: rows[name][i] for name in rows} for i in range(batch)]})


def _decimals(values: list[float]) -> list[orjson.Fragment]:
    """Scores and regression values: floats in TF Serving's protos, written by WriteDecimal."""
    return [orjson.Fragment(text) for text in decimal_texts(np.asarray(values, dtype=np.float32))]


def classify_reply(labels: list[list[str]], scores: list[list[float]]) -> bytes:
    results = [list(map(list, zip(row_labels, _decimals(row_scores)))) for row_labels, row_scores in zip(labels, scores)]
    return orjson.dumps({"results": results})


def regress_reply(values: list[float]) -> bytes:
    return orjson.dumps({"results": _decimals(values)})
