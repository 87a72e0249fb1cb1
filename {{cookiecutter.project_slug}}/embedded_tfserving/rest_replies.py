"""REST replies as TF Serving writes them: {"predictions": ...} for row requests, {"outputs": ...}
for columnar ones, {"results": ...} for classify and regress; strings decoded, outputs whose name
ends in `_bytes` as {"b64": ...}, and NaN/Infinity written out as TF Serving does."""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from .errors import invalid
from .json_messages import decimal_string


class _NeedsStdlib(Exception):
    """A float output holds NaN or Infinity, which orjson cannot write."""


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


def _encode(build: Callable[[dict[str, Any]], Any], outputs: dict[str, np.ndarray]) -> bytes:
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


def _float(value: float) -> float:
    return float(decimal_string(value)) if math.isfinite(value) else value


def classify_reply(labels: list[list[str]], scores: list[list[float]]) -> bytes:
    results = [[[label, _float(score)] for label, score in zip(ls, ss)] for ls, ss in zip(labels, scores)]
    return json.dumps({"results": results}, allow_nan=True).encode()


def regress_reply(values: list[float]) -> bytes:
    return json.dumps({"results": [_float(v) for v in values]}, allow_nan=True).encode()
