"""JSON as TF Serving's rapidjson (v1.1.0) reads and writes it.

- `parse_document`: the documents orjson refuses (NaN/Inf spellings, nesting deeper than 1024,
  bytes after the root value, raw non-UTF-8 bytes in strings, a leading BOM) read as rapidjson's
  iterative parser with TF Serving's flags reads them, with its error messages and byte offsets.
- `json_value_string`: the debug text TF Serving puts in error messages (PrettyWriter, 4-space
  indent, arrays on one line, cut off once 256 bytes are out; NaN/Infinity end it, as rapidjson's
  writer refuses them).
- `decimal_texts`: floats as TF Serving writes them in replies (absl::StrCat's "%.6g", full
  precision when that does not round-trip, ".0" on whole numbers, NaN/Infinity).
"""

from __future__ import annotations

import json
import math
import re
import struct
from typing import Any

import numpy as np

from .errors import ServingError, invalid

INT64_MIN, UINT64_MAX = -2**63, 2**64 - 1
MAX_DEPTH = 1_000_000  # rapidjson's iterative parser has no limit; this bounds our memory
NESTED_TOO_DEEPLY = "JSON Parse error: The document is nested too deeply"


def as_rapidjson_number(value: int) -> int | float:
    """rapidjson keeps an integer that fits int64 or uint64 as one and reads any other as a double."""
    if INT64_MIN <= value <= UINT64_MAX:
        return value
    try:
        return float(value)
    except OverflowError:
        return math.copysign(math.inf, value)


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


# --- writing: numbers -----------------------------------------------------------------------------

def rapidjson_double(value: float) -> str:
    """rapidjson's Writer::Double (Grisu shortest digits, then Prettify); finite values only."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent_text = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exponent = int(exponent_text or 0) - len(fraction)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits, k = stripped, exponent
    length = len(digits)
    kk = length + k  # 10^(kk-1) <= value < 10^kk
    if k >= 0 and kk <= 21:
        return f"{sign}{digits}{'0' * k}.0"
    if 0 < kk <= 21:
        return f"{sign}{digits[:kk]}.{digits[kk:]}"
    if -6 < kk <= 0:
        return f"{sign}0.{'0' * -kk}{digits}"
    if length == 1:
        return f"{sign}{digits}e{kk - 1}"
    return f"{sign}{digits[0]}.{digits[1:]}e{kk - 1}"


_NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def decimal_texts(values: np.ndarray) -> list[str]:
    """WriteDecimal of every element of a float32 or float64 array, flattened: absl::StrCat ("%.6g"),
    "%.9g" / "%.17g" where that does not read back as the same value, ".0" on whole numbers."""
    single = values.dtype != np.float64
    flat = values.ravel()
    wide = flat.astype(np.float64).tolist()
    if len(wide) <= _SMALL:
        return [_decimal(v, single) for v in wide]
    texts = [f"{v:.6g}" for v in wide]
    read_back = np.array(texts, dtype=np.float64)
    if single:
        read_back = read_back.astype(np.float32)
    full = ".9g" if single else ".17g"
    for index in np.flatnonzero(np.isfinite(flat) & (read_back != flat)).tolist():
        texts[index] = format(wide[index], full)
    return [_NON_FINITE.get(t) or (t if "." in t or "e" in t else t + ".0") for t in texts]


_SMALL = 16  # below this many values, numpy's per-call cost outweighs its per-value savings
_FLOAT32 = struct.Struct("f")


def _decimal(value: float, single: bool) -> str:
    """decimal_texts of one value (a float32's exact double when `single`)."""
    if not math.isfinite(value):
        return _NON_FINITE[f"{value}"]
    text = f"{value:.6g}"
    read_back = float(text)
    if single:
        read_back = _FLOAT32.unpack(_FLOAT32.pack(read_back))[0]  # rounded to float32, as strtof
    if read_back != value:
        text = format(value, ".9g" if single else ".17g")
    return text if "." in text or "e" in text else text + ".0"


# --- writing: the debug text of error messages ----------------------------------------------------

_MAX_DEBUG_BYTES = 256
_STRING_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')


def rapidjson_string(text: str) -> str:
    """rapidjson's Writer::String: quotes, backslashes and control characters escaped (uppercase hex)."""
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _STRING_ESCAPES.get(m[0]) or f"\\u{ord(m[0]):04X}", text) + '"'


class _DebugWriter:
    """PrettyWriter with kFormatSingleLineArray behind TF Serving's JsonWriterWithLimit: a write
    starts only while fewer than 256 bytes are out, and the first refused write ends the text."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.levels: list[list[Any]] = []  # [in_array, values written]

    def _put(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text.encode("utf-8", "surrogatepass"))

    def _prefix(self) -> None:
        if not self.levels:
            return
        level = self.levels[-1]
        in_array, count = level
        if in_array:
            if count:
                self._put(", ")
        else:
            self._put((",\n" if count % 2 == 0 else ": ") if count else "\n")
            if count % 2 == 0:
                self._put(" " * 4 * len(self.levels))
        level[1] += 1

    def write(self, value: Any) -> bool:
        if self.size >= _MAX_DEBUG_BYTES:
            return False
        if isinstance(value, dict):
            return self._object(value)
        if isinstance(value, list):
            return self._array(value)
        self._prefix()
        if isinstance(value, float) and not math.isfinite(value):
            return False  # rapidjson's writer refuses NaN and Infinity
        self._put(_scalar_text(value))
        return True

    def _object(self, value: dict[str, Any]) -> bool:
        self._prefix()
        self._put("{")
        self.levels.append([False, 0])
        for key, item in value.items():
            if self.size >= _MAX_DEBUG_BYTES:
                return False
            self._prefix()
            self._put(rapidjson_string(key))
            if not self.write(item):
                return False
        if self.size >= _MAX_DEBUG_BYTES:
            return False
        if self.levels.pop()[1]:
            self._put("\n" + " " * 4 * len(self.levels))
        self._put("}")
        return True

    def _array(self, value: list[Any]) -> bool:
        self._prefix()
        self._put("[")
        self.levels.append([True, 0])
        for item in value:
            if not self.write(item):
                return False
        if self.size >= _MAX_DEBUG_BYTES:
            return False
        self.levels.pop()
        self._put("]")
        return True


def _scalar_text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return rapidjson_string(value)
    if isinstance(value, int):
        value = as_rapidjson_number(value)
        if isinstance(value, int):
            return str(value)
    return rapidjson_double(value)


def json_value_string(value: Any) -> str:
    """TF Serving's JsonValueToDebugString, which its error messages quote."""
    writer = _DebugWriter()
    writer.write(value)
    return "".join(writer.parts)


# --- reading --------------------------------------------------------------------------------------

class _Refer(Exception):
    """The standard library's reading may differ from rapidjson's here: read it the exact way."""


def _int_hook(text: str) -> int | float:
    if len(text) > 300:  # may be too big for a double: rapidjson refuses those
        raise _Refer
    if len(text) > 20:
        return float(text)
    return as_rapidjson_number(int(text))


def _float_hook(text: str) -> float:
    _, _, exponent = text.lower().partition("e")
    value = float(text)
    if math.isinf(value) or (exponent and int(exponent) > 290):  # rapidjson's "too big" rule is its own
        raise _Refer
    return value


_STDLIB = json.JSONDecoder(parse_int=_int_hook, parse_float=_float_hook)
_LEADING_WHITESPACE = re.compile(r"[ \t\n\r]*")
_HIGH_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abAB]")


def parse_document(body: bytes) -> Any:
    """A document orjson refused, as TF Serving reads it; its parse errors word for word."""
    if not _HIGH_SURROGATE_ESCAPE.search(body):  # the standard library lets lone ones through
        try:
            text = body.decode("utf-8")
            value, _ = _STDLIB.raw_decode(text, _LEADING_WHITESPACE.match(text).end())  # type: ignore[union-attr]
            return value  # like kParseStopWhenDoneFlag, whatever follows the root value is ignored
        except (ValueError, RecursionError, _Refer):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            pass
    return _Reader(body).document()


class _ParseError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message, self.offset = message, offset


# Parser states, as rapidjson's IterativeParsingState, and the error each reports when the next
# token does not fit (HandleError).
_START, _FINISH = "start", "finish"
_OBJECT_START, _KEY, _COLON, _MEMBER, _MEMBER_COMMA = "object", "key", "colon", "member", "member comma"
_ARRAY_START, _ELEMENT, _ELEMENT_COMMA = "array", "element", "element comma"
_UNEXPECTED = {
    _START: "The document is empty.", _OBJECT_START: "Missing a name for object member.",
    _MEMBER_COMMA: "Missing a name for object member.", _KEY: "Missing a colon after a name of object member.",
    _MEMBER: "Missing a comma or '}' after an object member.", _COLON: "Invalid value.",
    _ARRAY_START: "Invalid value.", _ELEMENT_COMMA: "Invalid value.",
    _ELEMENT: "Missing a comma or ']' after an array element.",
}
_EXPECTS_VALUE = (_START, _COLON, _ARRAY_START, _ELEMENT_COMMA)
_WHITESPACE = re.compile(rb"[ \t\n\r]*")
_OPEN_RUN = re.compile(rb"(?:\[[ \t\n\r]*)*\[")
_STRING_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_DIGITS = re.compile(rb"[0-9]*")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_ESCAPED = {ord('"'): '"', ord("\\"): "\\", ord("/"): "/", ord("b"): "\b", ord("f"): "\f", ord("n"): "\n",
            ord("r"): "\r", ord("t"): "\t"}
_LITERALS = {ord("t"): (b"true", True), ord("f"): (b"false", False), ord("n"): (b"null", None)}


class _Reader:
    """rapidjson's iterative parser with kParseIterativeFlag | kParseNanAndInfFlag |
    kParseStopWhenDoneFlag over an EncodedInputStream<UTF8, MemoryStream>: a leading BOM is
    skipped, a NUL byte ends the input, strings are not checked for valid UTF-8 (bytes that are
    not become surrogate escapes), offsets count bytes."""

    def __init__(self, body: bytes) -> None:
        self.state: str = _START
        self.root: Any = None
        self.container: Any = None
        self.key: str | None = None
        self.stack: list[tuple[Any, str | None, str]] = []  # (container, key, state after it closes)
        nul = body.find(b"\0")
        self.data = body if nul < 0 else body[:nul]
        self.pos = 0
        for mark in (0xEF, 0xBB, 0xBF):
            if self.pos < len(self.data) and self.data[self.pos] == mark:
                self.pos += 1

    def document(self) -> Any:
        try:
            return self._parse()
        except _ParseError as error:
            raise invalid(f"JSON Parse error: {error.message} at offset: {error.offset}") from None

    def _parse(self) -> Any:
        data, size = self.data, len(self.data)
        self.state, self.root, self.container, self.key = _START, None, None, None
        self.stack = []
        while self.state != _FINISH:
            self.pos = _WHITESPACE.match(data, self.pos).end()  # type: ignore[union-attr]
            if self.pos >= size:
                raise _ParseError(_UNEXPECTED[self.state], self.pos)
            byte, state = data[self.pos], self.state
            if state in _EXPECTS_VALUE and byte in b"[{":
                self._open(byte)
            elif state in _EXPECTS_VALUE and byte not in b"]},:":
                self._attach(self._scalar())
                self.state = {_START: _FINISH, _COLON: _MEMBER}.get(state, _ELEMENT)
            elif (byte == ord("]") and state in (_ARRAY_START, _ELEMENT)) or \
                    (byte == ord("}") and state in (_OBJECT_START, _MEMBER)):
                self._close()
            elif byte == ord('"') and state in (_OBJECT_START, _MEMBER_COMMA):
                self.key, self.state = self._string(), _KEY
            elif (byte, state) in ((ord(":"), _KEY), (ord(","), _MEMBER), (ord(","), _ELEMENT)):
                self.state = {_KEY: _COLON, _MEMBER: _MEMBER_COMMA, _ELEMENT: _ELEMENT_COMMA}[state]
                self.pos += 1
            else:
                raise _ParseError(_UNEXPECTED[state], self.pos)
        return self.root

    def _open(self, byte: int) -> None:
        """An array or object starts; a run of '[' is taken in one go (deep nesting is cheap)."""
        value: Any = [] if byte == ord("[") else {}
        self._attach(value)
        stack = self.stack
        stack.append((self.container, self.key, _ELEMENT if self.state in (_ARRAY_START, _ELEMENT_COMMA)
                      else _MEMBER if self.state == _COLON else _START))
        self.state = _ARRAY_START if byte == ord("[") else _OBJECT_START
        if byte == ord("["):
            run = _OPEN_RUN.match(self.data, self.pos)[0]  # type: ignore[index]
            self.pos += len(run) - 1
            for _ in range(run.count(b"[") - 1):
                inner: list[Any] = []
                value.append(inner)
                stack.append((value, None, _ELEMENT))
                value = inner
        self.container, self.key = value, None
        if len(stack) > MAX_DEPTH:
            raise ServingError("INVALID_ARGUMENT", NESTED_TOO_DEEPLY)
        self.pos += 1

    def _close(self) -> None:
        """An array or object ends; so do the arrays whose ']' directly follow."""
        stack, data, pos = self.stack, self.data, self.pos
        while True:
            container, key, state = stack.pop()
            pos += 1
            if state != _ELEMENT or not data.startswith(b"]", pos):
                break
        self.container, self.key, self.pos = container, key, pos
        self.state = _FINISH if state == _START else state

    def _attach(self, value: Any) -> None:
        if self.container is None:
            self.root = value
        elif isinstance(self.container, list):
            self.container.append(value)
        else:
            self.container[self.key] = value

    def _scalar(self) -> Any:
        byte = self.data[self.pos]
        if byte == ord('"'):
            return self._string()
        if byte in _LITERALS:
            word, value = _LITERALS[byte]
            for index, expected in enumerate(word):
                at = self.pos + index
                if at >= len(self.data) or self.data[at] != expected:
                    raise _ParseError("Invalid value.", at)
            self.pos += len(word)
            return value
        return self._number()

    def _string(self) -> str:
        data, parts = self.data, []
        self.pos += 1
        while True:
            end = _STRING_RUN.match(data, self.pos).end()  # type: ignore[union-attr]
            parts.append(data[self.pos:end].decode("utf-8", "surrogateescape"))
            self.pos = end
            if end >= len(data):
                raise _ParseError("Missing a closing quotation mark in string.", end)
            if data[end] == ord('"'):
                self.pos += 1
                return "".join(parts)
            if data[end] != ord("\\"):  # a control character: v1.1.0 reports it as a bad escape
                raise _ParseError("Invalid escape character in string.", end)
            parts.append(self._escape())

    def _escape(self) -> str:
        escape_at, data = self.pos, self.data
        self.pos += 1
        kind = data[self.pos] if self.pos < len(data) else 0
        if kind in _ESCAPED:
            self.pos += 1
            return _ESCAPED[kind]
        if kind != ord("u"):
            raise _ParseError("Invalid escape character in string.", escape_at)
        self.pos += 1
        code = self._hex4(escape_at)
        if 0xD800 <= code <= 0xDBFF:
            if data[self.pos:self.pos + 2] != b"\\u":
                raise _ParseError("The surrogate pair in string is invalid.", escape_at)
            self.pos += 2
            low = self._hex4(escape_at)
            if not 0xDC00 <= low <= 0xDFFF:
                raise _ParseError("The surrogate pair in string is invalid.", escape_at)
            code = ((code - 0xD800) << 10 | (low - 0xDC00)) + 0x10000
        return chr(code)

    def _hex4(self, escape_at: int) -> int:
        if not _HEX4.match(self.data, self.pos):
            raise _ParseError("Incorrect hex digit after \\u escape in string.", escape_at)
        self.pos += 4
        return int(self.data[self.pos - 4:self.pos], 16)

    def _consume(self, byte: bytes) -> bool:
        if self.data[self.pos:self.pos + 1] == byte:
            self.pos += 1
            return True
        return False

    def _number(self) -> int | float:
        start = self.pos
        minus = self._consume(b"-")
        head = self.data[self.pos:self.pos + 1]
        if head == b"0":  # a leading zero stands alone: "01" is 0 followed by a stray 1
            self.pos += 1
            integer = b"0"
        elif head and head in b"123456789":
            integer = self._digits()
        elif head and head in b"IN":
            return self._nan_or_inf(minus)
        else:
            raise _ParseError("Invalid value.", self.pos)
        fraction = exponent = b""
        if self._consume(b"."):
            fraction = self._digits()
            if not fraction:
                raise _ParseError("Miss fraction part in number.", self.pos)
        if self._consume(b"e") or self._consume(b"E"):
            sign = b"-" if self._consume(b"-") else b""
            if not sign:
                self._consume(b"+")
            exponent = self._digits()
            if not exponent:
                raise _ParseError("Miss exponent in number.", self.pos)
            exponent = sign + exponent
        _check_number_size(integer, fraction, exponent, start)
        if not fraction and not exponent and len(integer) <= 20:
            value = int(self.data[start:self.pos])
            if INT64_MIN <= value <= UINT64_MAX:
                return value
        return float(self.data[start:self.pos])

    def _digits(self) -> bytes:
        end = _DIGITS.match(self.data, self.pos).end()  # type: ignore[union-attr]
        digits = self.data[self.pos:end]
        self.pos = end
        return digits

    def _nan_or_inf(self, minus: bool) -> float:
        # rapidjson consumes as it tests, so the Inf branch starts where a failed NaN left off
        if self._consume(b"N") and self._consume(b"a") and self._consume(b"N"):
            return math.nan
        if self._consume(b"I") and self._consume(b"n") and self._consume(b"f"):
            if self.data[self.pos:self.pos + 1] == b"i":
                for letter in (b"i", b"n", b"i", b"t", b"y"):
                    if not self._consume(letter):
                        raise _ParseError("Invalid value.", self.pos)
            return -math.inf if minus else math.inf
        raise _ParseError("Invalid value.", self.pos)


def _check_number_size(integer: bytes, fraction: bytes, exponent: bytes, start: int) -> None:
    """rapidjson's "Number too big to be stored in double." (at the number's start): an integer
    part past 1.797e307 with digits still to come, or a positive exponent past 308 less the
    fraction digits it folded into the significand."""
    if len(integer) > 20 and float(integer[:-1]) >= 1.7976931348623157e307:
        raise _ParseError("Number too big to be stored in double.", start)
    if exponent and not exponent.startswith(b"-"):
        power = int(exponent) if len(exponent) < 10 else 10**10
        if power > 308 + _folded_fraction_digits(integer, fraction):
            raise _ParseError("Number too big to be stored in double.", start)


def _folded_fraction_digits(integer: bytes, fraction: bytes) -> int:
    """How many fraction digits rapidjson's ParseNumber folds into its significand (-expFrac):
    while the significand fits 2^53 as an integer, then while fewer than 17 digits are significant."""
    significant = len(integer) - 1  # significandDigit: the integer part's digits after its first
    exact = int(integer) if len(integer) <= 20 else UINT64_MAX + 1
    folded = 0
    if exact <= UINT64_MAX:
        while folded < len(fraction) and exact <= 2**53 - 1:
            exact = exact * 10 + fraction[folded] - ord("0")
            folded += 1
            significant += exact != 0
    double = float(exact) if exact <= UINT64_MAX else float(integer)
    for digit in fraction[folded:]:
        if significant >= 17:
            break
        double = double * 10 + digit - ord("0")
        folded += 1
        significant += double > 0
    return folded
