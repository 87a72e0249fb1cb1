"""TF Serving's REST JSON <-> tensor conversion (tensorflow_serving/util/json_tensor.cc), case by
case from its unit tests (json_tensor_test.cc), over HTTP only, so the same cases run against a
real tensorflow_model_server serving `json` (written by `embedded_tfserving.testing.write_json_model`)
and `half_plus_two` (set SERVING_REST_URL; see conftest.py).

The generated model's identity signatures echo the request tensor, so a reply shows what the JSON
became (its type in how numbers are written, its shape in the nesting). Numbers are compared as
text where TF Serving's formatting is the expectation (json_tensor_test.cc compares those
AllValuesAsStrings): replies are read with floats kept as their text.

Left out, as only the C++ API can observe them: the request protos themselves (tensor_shape,
float_val: seen here through the identity signatures instead), TensorFromNonNullTerminatedBuffer
(an HTTP body has a length; the related "bytes after the root value are ignored" is a case),
"Cannot convert empty tensor map" (a signature always has outputs), JsonFromResultErrors (a
request without examples is refused before any result exists), kInvalid formats, and
MakeJsonFromStatus on OK.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import tf_serving_testdata_dir, wait_for, write_json_model

from .conftest import HALF_PLUS_TWO

pytestmark = pytest.mark.slow

MODEL_CONFIG = 'config { name: "%s" base_path: "%s" model_platform: "tensorflow" }\n'


def _available(url: str, model: str) -> bool:
    try:
        reply = requests.get(f"{url}/v1/models/{model}", timeout=5)
    except requests.ConnectionError:
        return False
    return reply.ok and reply.json()["model_version_status"][0]["state"] == "AVAILABLE"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REST URL of a server with `json` (the generated model) and, where TF Serving's test data is
    found, `half_plus_two`."""
    if os.environ.get("SERVING_REST_URL"):
        yield os.environ["SERVING_REST_URL"].rstrip("/")
        return
    folder = tmp_path_factory.mktemp("json_conformance")
    write_json_model(folder / "json" / "1")
    models = [("json", folder / "json")]
    testdata = tf_serving_testdata_dir()
    if testdata is not None and (testdata / HALF_PLUS_TWO).is_dir():
        models.append(("half_plus_two", testdata / HALF_PLUS_TWO))
    config = folder / "models.config"
    config.write_text("model_config_list {\n" + "".join(MODEL_CONFIG % m for m in models) + "}\n")
    with ServerProcess([f"--model_config_file={config}"], folder / "server.log") as process:
        process.start()
        for name, _ in models:
            wait_for(functools.partial(_available, process.rest_url, name), f"{name} to be AVAILABLE")
        yield process.rest_url


@pytest.fixture(scope="module")
def half_plus_two_url(server: str) -> str:
    if not _available(server, "half_plus_two"):
        pytest.skip("TF Serving's half_plus_two test model not found (see conftest.py)")
    return server


def post(url: str, verb: str, body: Any, model: str = "json") -> tuple[int, Any]:
    """(status, reply) with floats, NaN and Infinity kept as their text."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = requests.post(f"{url}/v1/models/{model}:{verb}", data=data, timeout=60)
    assert reply.headers["Content-Type"].startswith("application/json")
    return reply.status_code, json.loads(reply.text, parse_float=str, parse_constant=str)


def sig(name: str, **fields: Any) -> dict[str, Any]:
    """A request body naming the generated model's signature first (error messages quote bodies in order)."""
    return {"signature_name": name, **fields}


def check(url: str, verb: str, body: Any, status: int, expected: Any, model: str = "json") -> None:
    """A 200 reply equal to `expected`, or an error reply whose message is `expected` word for word."""
    got_status, reply = post(url, verb, body, model)
    if status == 200:
        assert (got_status, reply) == (200, expected)
    else:
        assert (got_status, reply) == (status, {"error": expected})


def doc(*members: str) -> str:
    """rapidjson's debug text of an object whose members are given as `"key": value` texts."""
    return "{\n" + ",\n".join("    " + m for m in members) + "\n}"


# --- predict requests: row ("instances") and columnar ("inputs") --------------------------------

B64_HELLO, B64_WORLD = {"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}
INT_ROWS = [[1, 2], [3, 4], [5, 6]]
DEEP = 500_000

PREDICT_OK = [
    # json_tensor_test.cc SingleUnnamedTensor
    pytest.param(sig("int32", instances=INT_ROWS), {"predictions": INT_ROWS}, id="SingleUnnamedTensor"),
    # json_tensor_test.cc DeeplyNestedWellFormed: rapidjson's iterative parser takes any depth
    pytest.param(b'{"signature_name": "int32", "instances": [1], "nested": ' + b"[" * DEEP + b"]" * DEEP + b"}",
                 {"predictions": [1]}, id="DeeplyNestedWellFormed"),
    # json_tensor_test.cc MixedInputForFloatTensor
    pytest.param(sig("float", instances=[1, 2.0, 3, 4, 5.003, 0.007, 0.0]),
                 {"predictions": ["1.0", "2.0", "3.0", "4.0", "5.003", "0.007", "0.0"]}, id="MixedInputForFloatTensor"),
    # json_tensor_test.cc MixedInputForDoubleTensor
    pytest.param(sig("double", instances=[1.0, 2, 3, 4, 0.662, 0, 0.0]),
                 {"predictions": ["1.0", "2.0", "3.0", "4.0", "0.662", "0.0", "0.0"]}, id="MixedInputForDoubleTensor"),
    # json_tensor_test.cc FloatTensorWithPrecisionLoss: an integer and its decimal form both accepted, both rounded
    pytest.param(sig("float", instances=[1435774380]), {"predictions": ["1.43577434e+09"]},
                 id="FloatTensorWithPrecisionLoss-int"),
    pytest.param(sig("float", instances=[1435774380.0]), {"predictions": ["1.43577434e+09"]},
                 id="FloatTensorWithPrecisionLoss-decimal"),
    # json_tensor_test.cc FloatTensorThatExceedsMaxReturnsInf
    pytest.param(sig("float", instances=[1.79769e308, -1.79769e308]), {"predictions": ["Infinity", "-Infinity"]},
                 id="FloatTensorThatExceedsMaxReturnsInf"),
    # json_tensor_test.cc FloatTensorThatExceedsMinReturnsZero
    pytest.param(sig("float", instances=[2.22507e-308, -2.22507e-308]), {"predictions": ["0.0", "-0.0"]},
                 id="FloatTensorThatExceedsMinReturnsZero"),
    # json_tensor_test.cc SingleUnnamedTensorWithSignature
    pytest.param(sig("int32", instances=[[1, 2]]), {"predictions": [[1, 2]]}, id="SingleUnnamedTensorWithSignature"),
    # json_tensor_test.cc SingleUnnamedTensorBase64Scalars (a string tensor; and back as b64 from a _bytes output)
    pytest.param(sig("string", instances=[B64_HELLO, B64_WORLD]), {"predictions": ["hello", "world"]},
                 id="SingleUnnamedTensorBase64Scalars"),
    pytest.param(sig("bytes", instances=[B64_HELLO, B64_WORLD]), {"predictions": [B64_HELLO, B64_WORLD]},
                 id="SingleUnnamedTensorBase64Scalars-bytes"),
    # json_tensor_test.cc SingleUnnamedTensorBase64Lists
    pytest.param(sig("string", instances=[[B64_HELLO], [B64_WORLD]]), {"predictions": [["hello"], ["world"]]},
                 id="SingleUnnamedTensorBase64Lists"),
    # json_tensor_test.cc SingleNamedTensorBase64
    pytest.param(sig("string", instances=[{"default": [[B64_HELLO], [B64_WORLD]]}]),
                 {"predictions": [[["hello"], ["world"]]]}, id="SingleNamedTensorBase64"),
    # json_tensor_test.cc MultipleNamedTensor
    pytest.param(sig("multiple_named", instances=[
        {"int_tensor": INT_ROWS, "str_tensor": ["foo", "bar"], "float_tensor": [1.0, float("nan")],
         "dbl_tensor": [float("nan")]},
        {"int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"], "float_tensor": [2.0, float("inf")],
         "dbl_tensor": [2.0]}]),
        {"predictions": [
            {"int_tensor": INT_ROWS, "str_tensor": ["foo", "bar"], "float_tensor": ["1.0", "NaN"], "dbl_tensor": ["NaN"]},
            {"int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"], "float_tensor": ["2.0", "Infinity"],
             "dbl_tensor": ["2.0"]}]}, id="MultipleNamedTensor"),
    # json_tensor_test.cc SingleUnnamedTensorColumnarFormat (named, then the name left out)
    pytest.param(sig("int32", inputs={"default": [INT_ROWS]}), {"outputs": [INT_ROWS]},
                 id="SingleUnnamedTensorColumnarFormat-named"),
    pytest.param(sig("int32", inputs=[INT_ROWS]), {"outputs": [INT_ROWS]}, id="SingleUnnamedTensorColumnarFormat"),
    # json_tensor_test.cc MultipleNamedTensorColumnarFormat: columns of different sizes; a b64 scalar
    pytest.param(sig("columnar_named", inputs={"int_tensor": [INT_ROWS], "str_tensor": ["foo", "bar"],
                                               "bin_tensor": B64_HELLO}),
                 {"outputs": {"int_tensor": [INT_ROWS], "str_tensor": ["foo", "bar"], "bin_tensor": "hello"}},
                 id="MultipleNamedTensorColumnarFormat"),
    # json_tensor.cc AddValueToTensor, per dtype: int64/uint64/uint32 over their whole range, bools
    pytest.param(sig("int64", instances=[9223372036854775807, -9223372036854775808]),
                 {"predictions": [9223372036854775807, -9223372036854775808]}, id="int64-range"),
    pytest.param(sig("uint64", instances=[0, 18446744073709551615]), {"predictions": [0, 18446744073709551615]},
                 id="uint64-range"),
    pytest.param(sig("uint32", inputs=[4294967295]), {"outputs": [4294967295]}, id="uint32-range"),
    pytest.param(sig("bool", instances=[[True, False]]), {"predictions": [[True, False]]}, id="bool"),
    # ... int8/int16/uint8 are read as int32 (IsInt) and narrowed as C casts do
    pytest.param(sig("int8", instances=[300, -1]), {"predictions": [44, -1]}, id="int8-wraps"),
    pytest.param(sig("uint8", instances=[300, -1]), {"predictions": [44, 255]}, id="uint8-wraps"),
    pytest.param(sig("int16", instances=[[40000]]), {"predictions": [[-25536]]}, id="int16-wraps"),
    pytest.param(sig("string", instances=["héllo", 'a"b\\c']), {"predictions": ["héllo", 'a"b\\c']}, id="strings"),
    # json_tensor.cc MakeColumnarFormatJsonFromTensors: a scalar output is written as a scalar
    pytest.param(sig("float", inputs=2.5), {"outputs": "2.5"}, id="columnar-scalar-float"),
    pytest.param(sig("int64", inputs={"default": 7}), {"outputs": 7}, id="columnar-scalar-int"),
    pytest.param(sig("bool", inputs=True), {"outputs": True}, id="columnar-scalar-bool"),
    pytest.param(sig("bytes", inputs={"b64": "/w=="}), {"outputs": {"b64": "/w=="}}, id="columnar-scalar-bytes"),
    # an empty list makes an empty tensor of any type, even one no JSON value converts to
    pytest.param(sig("half", inputs=[]), {"outputs": []}, id="half-empty"),
    pytest.param(sig("int32", inputs=[[], []]), {"outputs": [[], []]}, id="empty-rows"),
    # json_tensor.cc WriteDecimal: float32 values that "%.6g" does not round-trip are written with 9 digits,
    # doubles with 17
    pytest.param(sig("float", instances=[0.123456789, 16777217]), {"predictions": ["0.123456791", "16777216.0"]},
                 id="float-full-precision"),
    pytest.param(sig("double", instances=[0.1, 0.3333333333333333, 1e100]),
                 {"predictions": ["0.1", "0.33333333333333331", "1e+100"]}, id="double-full-precision"),
]


@pytest.mark.parametrize(("body", "expected"), PREDICT_OK)
def test_predict_converts_like_tf_serving(server: str, body: Any, expected: Any) -> None:
    check(server, "predict", body, 200, expected)


ELEMENT = "Failed to process element: {} of 'instances' list. Error: INVALID_ARGUMENT: "
NAMED = "Failed to process element: {} key: {} of 'instances' list. Error: INVALID_ARGUMENT: "
ROWS_567 = "[[1, 2], [3, 4], [5, 6, 7]]"
SIGNATURE_ERROR = " not formatted correctly. 'signature_name' key must be a string value."
BOTH_KEYS = " Not formatted correctly expecting only one of 'inputs' or 'instances' keys to exist "

PREDICT_ERRORS = [
    # json_tensor_test.cc DeeplyNestedMalformed: the quoted document stops at 256 bytes
    pytest.param(b'{"signature_name": ' + b"[" * DEEP + b"]" * DEEP + b"}", 400,
                 'JSON Value: {\n    "signature_name": ' + "[" * 232 + SIGNATURE_ERROR, id="DeeplyNestedMalformed"),
    # json_tensor_test.cc SingleUnnamedTensorErrors
    pytest.param(b"", 400, "JSON Parse error: The document is empty", id="SingleUnnamedTensorErrors-empty"),
    pytest.param({"signature_name": 5, "instances": [[1, 2], [3, 4], [5, 6, 7]]}, 400,
                 "JSON Value: " + doc('"signature_name": 5', f'"instances": {ROWS_567}') + SIGNATURE_ERROR,
                 id="SingleUnnamedTensorErrors-signature"),
    pytest.param(sig("int32", instances=[[1, 2], [3, 4], [5, 6, 7]], inputs=[[1, 2], [3, 4], [5, 6, 7]]), 400,
                 "JSON Value: " + doc('"signature_name": "int32"', f'"instances": {ROWS_567}', f'"inputs": {ROWS_567}')
                 + BOTH_KEYS, id="SingleUnnamedTensorErrors-both-keys"),
    pytest.param(sig("int32", instances=[[1, 2], [3, 4], [5, 6, 7]]), 400,
                 ELEMENT.format(2) + "Expecting tensor size: 2 but got: 3", id="SingleUnnamedTensorErrors-size"),
    pytest.param(sig("int32", instances=[[1, 2], [3, 4], [[5, 6]]]), 400,
                 ELEMENT.format(2) + "Expecting shape [2] but got: [1,2]", id="SingleUnnamedTensorErrors-shape"),
    pytest.param(sig("int32", instances=[1, [1]]), 400,
                 ELEMENT.format(1) + "Expecting shape [] but got: [1]", id="SingleUnnamedTensorErrors-scalar-shape"),
    pytest.param(sig("int32", instances=[[1, 2], ["a", "b"]]), 400,
                 ELEMENT.format(1) + 'JSON Value: "a" Type: String is not of expected type: int32',
                 id="SingleUnnamedTensorErrors-type"),
    # json_tensor_test.cc MultipleNamedTensorErrors
    pytest.param(sig("two_named", instances=[{"int_tensor": INT_ROWS, "str_tensor": ["foo", "bar"]},
                                             {"int_tensor": [[[7, 8], [9, 0], [1, 2]]], "str_tensor": ["baz", "bat"]}]),
                 400, NAMED.format(1, "int_tensor") + "Expecting shape [3,2] but got: [1,3,2]",
                 id="MultipleNamedTensorErrors-shape"),
    pytest.param(sig("two_named", instances=[{"int_tensor": [[1, 2], [3, 4], [5, 6], [7, 8]], "str_tensor": ["foo", "bar"]},
                                             {"int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"]}]),
                 400, NAMED.format(1, "int_tensor") + "Expecting tensor size: 8 but got: 6",
                 id="MultipleNamedTensorErrors-size"),
    pytest.param(sig("two_named", instances=[{"int_tensor": INT_ROWS, "str_tensor": ["foo", "bar"]}, [1, 20, 30],
                                             {"int_tensor": [[[7, 8], [9, 0], [1, 2]]], "str_tensor": ["baz", "bat"]}]),
                 400, "Expecting object but got list at item 1 of input list", id="MultipleNamedTensorErrors-object-list"),
    pytest.param(sig("string", instances=[["baz", "bar"], {"default": ["baz", "bat"]}]), 400,
                 "Expecting value/list but got object at item 1 of input list", id="MultipleNamedTensorErrors-list-object"),
    # json_tensor.cc FillTensorMapFromInstancesList / FillTensorMapFromInputsMap / FillPredictRequestFromJson
    pytest.param(sig("two_named", instances=[{"int_tensor": [1]}]), 400,
                 "Failed to process element: 0 of 'instances' list. JSON object: " + doc('"int_tensor": [1]')
                 + " keys must be equal to: int_tensor,str_tensor", id="instances-keys"),
    pytest.param(sig("two_named", instances=[{"int_tensor": 1, "str_tensor": "a", "x": 1}]), 400,
                 NAMED.format(0, "x") + "JSON object: does not have named input: x", id="instances-unknown-key"),
    pytest.param(sig("two_named", instances=[[1]]), 400, "instances is a plain list, but expecting list of objects as "
                 "multiple input tensors required as per tensorinfo_map", id="instances-plain-list"),
    pytest.param(sig("two_named", inputs=[1]), 400, "inputs is a plain value/list, but expecting an object as multiple "
                 "input tensors required as per tensorinfo_map", id="inputs-plain-list"),
    pytest.param(sig("two_named", inputs={"int_tensor": [1]}), 400, "Missing named input: str_tensor in 'inputs' object.",
                 id="inputs-missing"),
    pytest.param(sig("int32", instances=1), 400,
                 "JSON Value: " + doc('"signature_name": "int32"', '"instances": 1')
                 + " Expecting 'instances' to be an list/array",
                 id="instances-not-a-list"),
    pytest.param(sig("int32", instances=[]), 400,
                 "JSON Value: " + doc('"signature_name": "int32"', '"instances": []') + " No values in 'instances' array",
                 id="instances-empty"),
    pytest.param(sig("int32", instance=[1]), 400, "Missing 'inputs' or 'instances' key", id="no-inputs"),
    pytest.param(b"[1]", 400, "JSON Value: [1] Is not object", id="not-an-object"),
    # json_tensor.cc FillTensorProto
    pytest.param(sig("int32", inputs=[[1, 2], 3]), 400,
                 "JSON Value: 3 found at incorrect level: 2 in the JSON DOM. Expected at level: 2", id="incorrect-level"),
    pytest.param(sig("int32", inputs=[[1, [2]]]), 400, "Encountered list at unexpected level: 2 expected < 2",
                 id="list-too-deep"),
    pytest.param(sig("int32", inputs=[[1, 2], [3]]), 400, "Encountered list at unexpected size: 1 at level: 1 expected size: 2",
                 id="list-wrong-size"),
    # json_tensor.cc AddValueToTensor: each type takes only its own JSON values (rapidjson's IsInt, IsUint64, ...)
    pytest.param(sig("float", instances=[[1.0], [True]]), 400,
                 ELEMENT.format(1) + "JSON Value: true Type: True is not of expected type: float", id="float-refuses-bool"),
    pytest.param(sig("int32", inputs=[1, True]), 400, "JSON Value: true Type: True is not of expected type: int32",
                 id="int32-refuses-bool"),
    pytest.param(sig("string", inputs=["a", 1]), 400, "JSON Value: 1 Type: Number is not of expected type: string",
                 id="string-refuses-number"),
    pytest.param(sig("int32", inputs=[2147483648]), 400,
                 "JSON Value: 2147483648 Type: Number is not of expected type: int32", id="int32-range"),
    pytest.param(sig("uint32", inputs=[-1]), 400, "JSON Value: -1 Type: Number is not of expected type: uint32",
                 id="uint32-range"),
    pytest.param(sig("int64", inputs=[1.0]), 400, "JSON Value: 1.0 Type: Number is not of expected type: int64",
                 id="int64-refuses-decimal"),
    pytest.param(sig("bool", inputs=[1]), 400, "JSON Value: 1 Type: Number is not of expected type: bool",
                 id="bool-refuses-number"),
    pytest.param(sig("int32", inputs={"default": {"b64": "AA=="}}), 400,
                 "JSON Value: " + doc('"b64": "AA=="') + " Type: Object is not of expected type: int32",
                 id="int32-refuses-object"),
    pytest.param(sig("string", inputs={"default": {"b64": 1, "x": 2}}), 400,
                 "JSON Value: " + doc('"b64": 1', '"x": 2') + " not formatted correctly for base64 data", id="not-base64"),
    # ... and quotes numbers as rapidjson's writer prints them (a NaN not at all: the writer refuses it)
    pytest.param(sig("int32", inputs=[1e-7, 0.123456789]), 400,
                 "JSON Value: 1e-7 Type: Number is not of expected type: int32", id="debug-text-small-double"),
    pytest.param(sig("int32", inputs=[0.123456789]), 400,
                 "JSON Value: 0.123456789 Type: Number is not of expected type: int32", id="debug-text-double"),
    pytest.param(sig("int32", instances=[float("nan")]), 400,
                 ELEMENT.format(0) + "JSON Value:  Type: Number is not of expected type: int32", id="debug-text-nan"),
    # ... and cuts a long document off once 256 bytes are out (JsonWriterWithLimit)
    pytest.param(sig("int32", instances=[1], inputs=list(range(100))), 400,
                 'JSON Value: {\n    "signature_name": "int32",\n    "instances": [1],\n    "inputs": ['
                 + ", ".join(map(str, range(50))) + BOTH_KEYS, id="debug-text-cut-at-256-bytes"),
    # json_tensor.cc AddValueToTensor default: types JSON values do not convert to
    pytest.param(sig("half", inputs=[1.0]), 501, "Conversion of JSON Value: 1.0 to type: half", id="half-columnar"),
    pytest.param(sig("half", instances=[1.0]), 400,
                 "Failed to process element: 0 of 'instances' list. Error: UNIMPLEMENTED: Conversion of JSON Value: 1.0 "
                 "to type: half", id="half-row"),
]


@pytest.mark.parametrize(("body", "status", "message"), PREDICT_ERRORS)
def test_predict_errors_are_tf_serving_messages(server: str, body: Any, status: int, message: str) -> None:
    check(server, "predict", body, status, message)


# --- base64 as absl::Base64Unescape reads it ------------------------------------------------------

@pytest.mark.parametrize(("encoded", "decoded"), [
    ("aGVsbG8=", "hello"),
    ("aGVsbG8", "hello"),  # padding may be left out
    ("aGVsbG8.", "hello"),  # '.' pads too
    (" aGVs\nbG8=\t", "hello"),  # ASCII whitespace anywhere is skipped
    ("aGVsbA==", "hell"),
    ("", ""),
])
def test_base64_accepted_as_absl_accepts_it(server: str, encoded: str, decoded: str) -> None:
    # json_tensor.cc JsonDecodeBase64Object (absl::Base64Unescape)
    check(server, "predict", sig("string", inputs={"b64": encoded}), 200, {"outputs": decoded})


@pytest.mark.parametrize("encoded", [
    "aGVsbG8==",  # more padding than the data calls for
    "aGVsbA=",  # less
    "aGVsb",  # a lone sixth of a byte
    "aGVs=bG8",  # data after padding
    "a-_b",  # the web-safe alphabet is not absl::Base64Unescape's
    "aGVs!G8=",
])
def test_malformed_base64_is_refused_before_anything_runs(server: str, half_plus_two_url: str, encoded: str) -> None:
    # json_tensor.cc JsonDecodeBase64Object: "Unable to base64 decode", in each place b64 is read
    check(server, "predict", sig("string", inputs={"b64": encoded}), 400, "Unable to base64 decode")
    check(server, "predict", sig("string", instances=[{"b64": encoded}]), 400, ELEMENT.format(0) + "Unable to base64 decode")
    for verb in ("classify", "regress"):
        body = {"signature_name": f"{verb}_x_to_y", "examples": [{"x": {"b64": encoded}}]}
        check(half_plus_two_url, verb, body, 400, "Unable to base64 decode", model="half_plus_two")


# --- the document: rapidjson's flags (iterative, NaN and Inf, stop when done) ---------------------

@pytest.mark.parametrize(("body", "status", "expected"), [
    # json_tensor.cc ParseJson: kParseNanAndInfFlag takes rapidjson's spellings
    (b'{"signature_name": "float", "instances": [NaN, Inf, -Inf, Infinity, -Infinity, -NaN]}', 200,
     {"predictions": ["NaN", "Infinity", "-Infinity", "Infinity", "-Infinity", "NaN"]}),
    # ... kParseStopWhenDoneFlag: what follows the root value is not read (TensorFromNonNullTerminatedBuffer's point)
    (b'{"signature_name": "int32", "instances": [[1,2],[3,4],[5,6]]}X', 200, {"predictions": INT_ROWS}),
    (b'{"signature_name": "int32", "instances": [1]}\x00{', 200, {"predictions": [1]}),
    # ... a UTF-8 byte order mark is skipped (EncodedInputStream<UTF8<>, MemoryStream>)
    (b'\xef\xbb\xbf{"signature_name": "int32", "instances": [1]}', 200, {"predictions": [1]}),
    # ... and its errors: GetParseError_En at a byte offset
    (b"  ", 400, "JSON Parse error: The document is empty. at offset: 2"),
    (b'{"instances": [1,]}', 400, "JSON Parse error: Invalid value. at offset: 17"),
    (b'{"instances": [1] "x"}', 400, "JSON Parse error: Missing a comma or '}' after an object member. at offset: 18"),
    (b'{"instances": [1 2]}', 400, "JSON Parse error: Missing a comma or ']' after an array element. at offset: 17"),
    (b'{"instances" [1]}', 400, "JSON Parse error: Missing a colon after a name of object member. at offset: 13"),
    (b'{"instances": [1], }', 400, "JSON Parse error: Missing a name for object member. at offset: 19"),
    (b'{"instances": [1.]}', 400, "JSON Parse error: Miss fraction part in number. at offset: 17"),
    (b'{"instances": [1e400]}', 400, "JSON Parse error: Number too big to be stored in double. at offset: 15"),
    (b'{"instances": ["\\ud800"]}', 400, "JSON Parse error: The surrogate pair in string is invalid. at offset: 16"),
    (b'{"instances": ["\xc3\xa9\\x"]}', 400, "JSON Parse error: Invalid escape character in string. at offset: 18"),
    (b'{"instances": [tru]}', 400, "JSON Parse error: Invalid value. at offset: 18"),
])
def test_documents_are_read_as_rapidjson_reads_them(server: str, body: bytes, status: int, expected: Any) -> None:
    check(server, "predict", body, status, expected)


# --- predict replies --------------------------------------------------------------------------------

NESTED = [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]
BYTES_ROWS = [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}], [{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]


@pytest.mark.parametrize(("body", "expected"), [
    # json_tensor_test.cc FromJsonSingleTensor
    pytest.param(sig("int32", instances=NESTED), {"predictions": NESTED}, id="FromJsonSingleTensor-row"),
    pytest.param(sig("int32", inputs=NESTED), {"outputs": NESTED}, id="FromJsonSingleTensor-columnar"),
    # json_tensor_test.cc FromJsonSingleScalarTensor
    pytest.param(sig("int32", instances=[1, 2, 3, 4, 5]), {"predictions": [1, 2, 3, 4, 5]},
                 id="FromJsonSingleScalarTensor-row"),
    pytest.param(sig("int32", inputs=[1, 2, 3, 4, 5]), {"outputs": [1, 2, 3, 4, 5]}, id="FromJsonSingleScalarTensor-columnar"),
    # json_tensor_test.cc FromJsonSingleBytesTensor
    pytest.param(sig("bytes", instances=[["hello", "world"], ["tf", "serving"]]), {"predictions": BYTES_ROWS},
                 id="FromJsonSingleBytesTensor"),
    # json_tensor_test.cc FromJsonSingleFloatTensorSixDigitPrecision
    pytest.param(sig("float", instances=[[9000000, 999999, 0.50000], [.0003, .00003, 555557.5]]),
                 {"predictions": [["9e+06", "999999.0", "0.5"], ["0.0003", "3e-05", "555557.5"]]},
                 id="FromJsonSingleFloatTensorSixDigitPrecision"),
    # json_tensor_test.cc FromJsonSingleFloatTensorNonFinite
    pytest.param(sig("float", instances=[[float("nan"), float("inf")], [3, float("-inf")]]),
                 {"predictions": [["NaN", "Infinity"], ["3.0", "-Infinity"]]}, id="FromJsonSingleFloatTensorNonFinite"),
    # json_tensor_test.cc FromJsonMultipleNamedTensors
    pytest.param(sig("many_outputs", instances=[
        {"int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"], "float_tensor": [1.0],
         "double_scalar_tensor": 8.0, "str_tensor_bytes": ["hello", "world"]},
        {"int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"], "float_tensor": [2.0],
         "double_scalar_tensor": 9.0, "str_tensor_bytes": ["tf", "serving"]}]),
        {"predictions": [
            {"double_scalar_tensor": "8.0", "float_tensor": ["1.0"], "int_tensor": [[1, 2], [3, 4], [5, 6]],
             "str_tensor": ["foo", "bar"], "str_tensor_bytes": BYTES_ROWS[0]},
            {"double_scalar_tensor": "9.0", "float_tensor": ["2.0"], "int_tensor": [[7, 8], [9, 0], [1, 2]],
             "str_tensor": ["baz", "bat"], "str_tensor_bytes": BYTES_ROWS[1]}]}, id="FromJsonMultipleNamedTensors-row"),
    pytest.param(sig("many_outputs", inputs={
        "int_tensor": NESTED, "str_tensor": [["foo", "bar"], ["baz", "bat"]], "float_tensor": [[1.0], [2.0]],
        "double_scalar_tensor": [8.0, 9.0], "str_tensor_bytes": [["hello", "world"], ["tf", "serving"]]}),
        {"outputs": {"double_scalar_tensor": ["8.0", "9.0"], "float_tensor": [["1.0"], ["2.0"]], "int_tensor": NESTED,
                     "str_tensor": [["foo", "bar"], ["baz", "bat"]], "str_tensor_bytes": BYTES_ROWS}},
        id="FromJsonMultipleNamedTensors-columnar"),
    # json_tensor_test.cc FromJsonSingleZeroBatchTensor
    pytest.param(sig("zero_batch", instances=[1.0]), {"predictions": []}, id="FromJsonSingleZeroBatchTensor"),
    # json_tensor_test.cc FromJsonMultipleZeroBatchTensors
    pytest.param(sig("zero_batches", instances=[1.0]), {"predictions": []}, id="FromJsonMultipleZeroBatchTensors"),
    # json_tensor.cc MakeColumnarFormatJsonFromTensors: scalars (and zero-batch tensors) need no batch dimension
    pytest.param(sig("scalar_output", inputs=[1.0, 2.0, 3.5]), {"outputs": "6.5"}, id="columnar-scalar-output"),
    pytest.param(sig("zero_batch_mismatch", inputs=[1.0]),
                 {"outputs": {"int_tensor": [], "str_tensor": [["foo", "foo"]]}}, id="columnar-any-batch"),
])
def test_predict_replies_are_written_like_tf_serving(server: str, body: Any, expected: Any) -> None:
    check(server, "predict", body, 200, expected)


@pytest.mark.parametrize(("body", "status", "message"), [
    # json_tensor_test.cc FromJsonSingleTensorErrors
    pytest.param(sig("complex_output", instances=[1.0, 2.0]), 400, "Failed to write JSON value for tensor type: complex64",
                 id="FromJsonSingleTensorErrors-type"),
    pytest.param(sig("scalar_output", instances=[1.0, 2.0]), 400, "Tensor name: total has no shape information ",
                 id="FromJsonSingleTensorErrors-no-shape"),
    # json_tensor.cc AddSingleValueAndAdvance: DT_HALF is not among the types it writes, in either format
    pytest.param(sig("half_output", instances=[1.0]), 400, "Failed to write JSON value for tensor type: half", id="half-row"),
    pytest.param(sig("half_output", inputs=1.0), 400, "Failed to write JSON value for tensor type: half", id="half-columnar"),
])
def test_reply_errors_are_tf_serving_messages(server: str, body: Any, status: int, message: str) -> None:
    check(server, "predict", body, status, message)


@pytest.mark.parametrize("signature", [
    "batch_mismatch",  # json_tensor_test.cc FromJsonMultipleNamedTensorsErrors
    "zero_batch_mismatch",  # json_tensor_test.cc FromJsonMultipleZeroBatchTensorsErrors
])
def test_row_replies_need_one_batch_size(server: str, signature: str) -> None:
    status, reply = post(server, "predict", sig(signature, instances=[1.0, 2.0]))
    # which tensor is named depends on protobuf map order, as in TF Serving
    messages = {"Tensor name: str_tensor has inconsistent batch size: 1 expecting: {}",
                "Tensor name: int_tensor has inconsistent batch size: {} expecting: 1"}
    batch = 2 if signature == "batch_mismatch" else 0
    assert status == 400 and reply["error"] in {m.format(batch) for m in messages}, reply


def test_columnar_scalar_on_half_plus_two(half_plus_two_url: str) -> None:
    # json_tensor.cc MakeColumnarFormatJsonFromTensors: a scalar in, a scalar out (x is [-1,1] in the
    # signature, but TF Serving feeds what it is given)
    check(half_plus_two_url, "predict", {"inputs": 2.0}, 200, {"outputs": "3.0"}, model="half_plus_two")


def test_errors_are_json_with_their_quotes_escaped(server: str) -> None:
    # json_tensor_test.cc MakeJsonFromTensors StatusError
    check(server, "predict", sig("nope", instances=[1]), 400, 'Serving signature name: "nope" not found in signature def')


# --- classify and regress -------------------------------------------------------------------------

def echo(names: str, ratings: str, age: str = "", intboolmix: str = "", query: str = "", location: str = "") -> list[list[str]]:
    """The classify_echo result of one example: each feature's values (as tf.strings.as_string writes
    them) and how many there are."""
    values = {"names": names, "ratings": ratings, "age": age, "intboolmix": intboolmix, "query": query, "location": location}
    return [[f"{name}={text}", f"{len(text.split(',')) if text else 0}.0"] for name, text in values.items()]


def test_examples_become_tf_examples_as_in_tf_serving(server: str) -> None:
    # json_tensor_test.cc ClassifyRegressRequestTest RequestNoContext: strings -> bytes_list, decimals -> float_list,
    # integers -> int64_list
    body = {"signature_name": "classify_echo", "examples": [
        {"names": ["foo", "bar"], "ratings": [8.0, 9.0], "age": 20},
        {"names": ["baz"], "ratings": 6.0}]}
    check(server, "classify", body, 200, {"results": [echo("foo,bar", "8.000000,9.000000", age="20"),
                                                      echo("baz", "6.000000")]})


def test_examples_with_context_as_in_tf_serving(server: str) -> None:
    # json_tensor_test.cc ClassifyRegressRequestTest RequestWithContextAndSignature: a context merged into each
    # example, NaN and Infinity kept, {"b64": ...} as bytes, bools as 1/0 in int64_list
    context = {"query": "pizza", "location": ["sfo"]}
    body = {"signature_name": "classify_echo", "context": context, "examples": [
        {"names": ["foo", "bar"], "ratings": [8.0, 9.0, float("nan"), float("inf")], "age": 20},
        {"names": ["baz", {"b64": "aGVsbG8="}], "ratings": 6.0, "intboolmix": [1, True, False]},
        {"names": "bar", "ratings": float("-inf")}]}
    where = {"query": "pizza", "location": "sfo"}
    check(server, "classify", body, 200, {"results": [
        echo("foo,bar", "8.000000,9.000000,nan,inf", age="20", **where),
        echo("baz,hello", "6.000000", intboolmix="1,1,0", **where),
        echo("bar", "-inf", **where)]})


EXAMPLE_ERRORS = [
    # json_tensor_test.cc ClassifyRegressRequestTest JsonErrors
    ({"signature_name": ["hello"], "examples": [{"names": ["foo", "bar"]}]},
     'JSON Value: {\n    "signature_name": ["hello"],\n    "examples": [{\n            "names": ["foo", "bar"]\n        }]\n}'
     + SIGNATURE_ERROR),
    ({"context": [{"names": ["foo", "bar"]}]}, "Example must be JSON object but got JSON Array"),
    ({"examples": {"names": ["foo", "bar"]}},
     'JSON Value: {\n    "examples": {\n        "names": ["foo", "bar"]\n    }\n}'
     " Expecting 'examples' value to be an list/array"),
    ({"examples": [[{"names": ["foo", "bar"]}]]}, "Example must be JSON object but got JSON Array"),
    ({"examples": [{"names": [10, None]}]}, "Feature: names has element with unexpected JSON type: Null"),
    ({"examples": [{"names": [10, 10.0]}]}, "Unexpected element type in feature: names expecting type: int64"),
    ({"examples": [{"names": [10, {"test": 10}]}]}, "Feature: names has element with unexpected JSON type: Object"),
    ({"examples": [{"names": [[10], 20]}]}, "Feature: names has element with unexpected JSON type: Array"),
    ({"examples": [{"names": [20, 18446744073709551603]}]}, "Feature: names has uint64_t element. Only int64_t is supported."),
    # json_tensor.cc FillClassifyRegressRequestFromJson: its messages say "classify" for regress too
    ({"context": {}},
     "JSON Value: " + doc('"context": {}') + " When method is classify, key 'examples' is expected and was not found"),
    ({"examples": []}, 'JSON Value: {\n    "examples": []\n} \'examples\' value is an empty array'),
    ({"examples": [{"names": ["foo", 1.5]}]}, "Unexpected element type in feature: names expecting type: bytes"),
    ({"examples": [{"names": [1.5, "foo"]}]}, "Unexpected element type in feature: names expecting type: float"),
]


@pytest.mark.parametrize("verb", ["classify", "regress"])
@pytest.mark.parametrize(("body", "message"), EXAMPLE_ERRORS)
def test_example_errors_are_tf_serving_messages(server: str, verb: str, body: dict[str, Any], message: str) -> None:
    check(server, verb, body, 400, message)


def test_classification_results_are_written_like_tf_serving(server: str) -> None:
    # json_tensor_test.cc ClassifyRegressnResultTest JsonFromClassificationResult
    body = {"signature_name": "classify_labels", "examples": [{"scores": [0.2, 0.7, 0.1]}, {"scores": [0.7, 0.1, 0.2]}]}
    check(server, "classify", body, 200, {"results": [
        [["car", "0.2"], ["bike", "0.7"], ["bus", "0.1"]],
        [["car", "0.7"], ["bike", "0.1"], ["bus", "0.2"]]]})


@pytest.mark.parametrize(("values", "expected"), [
    ([0.2, 0.9, 1.0], ["0.2", "0.9", "1.0"]),  # json_tensor_test.cc JsonFromRegressionResult
    # json_tensor_test.cc JsonFromRegressionResultWithNonFinite
    ([0.2, float("inf"), 1.0, float("-inf"), float("nan")], ["0.2", "Infinity", "1.0", "-Infinity", "NaN"]),
    ([9000000.0, 0.00003, 1 / 3], ["9e+06", "3e-05", "0.333333343"]),  # json_tensor.cc WriteDecimal
])
def test_regression_results_are_written_like_tf_serving(server: str, values: list[float], expected: list[str]) -> None:
    body = {"signature_name": "regress_value", "examples": [{"value": v} for v in values]}
    check(server, "regress", body, 200, {"results": expected})
