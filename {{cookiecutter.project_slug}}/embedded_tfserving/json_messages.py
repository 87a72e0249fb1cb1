"""JSON values and parse errors as TF Serving's rapidjson prints them: its error messages quote
the offending value (pretty-printed, 4-space indent), name its type and say why parsing failed."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

FLOAT32_MAX = float(np.finfo(np.float32).max)

_PARSE_ERRORS = (  # Python's json message prefix -> rapidjson's GetParseError_En
    ("Expecting value", "Invalid value."),
    ("Expecting property name", "Missing a name for object member."),
    ("Expecting ':'", "Missing a colon after a name of object member."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Extra data", "The document root must not be followed by other values."),
    ("Invalid control character", "Invalid encoding in string."),
)


def parse_error_message(error: json.JSONDecodeError | UnicodeDecodeError) -> str:
    """rapidjson's "<what> at offset: N" for a document Python's parser refused."""
    if isinstance(error, UnicodeDecodeError):
        return f"Invalid encoding in string. at offset: {error.start}"
    message = next((m for prefix, m in _PARSE_ERRORS if error.msg.startswith(prefix)), None)
    if message is None:
        message = "Missing a comma or ']' after an array element." if "]" in error.msg or "," in error.msg else "Invalid value."
    return f"{message} at offset: {error.pos}"


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
        return decimal_string(value, single=abs(value) <= FLOAT32_MAX or not math.isfinite(value))
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
