"""Property-based tests: the REST request parsers never fail with anything but a contract error, and
the running server answers every request the shipped OpenAPI description allows (or nearly allows)
with a documented status and the {"error": ...} shape, never a 5xx."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

import embedded_tfserving
from embedded_tfserving.errors import ServingError
from embedded_tfserving.json_tensors import fast, json_to_array, walk
from embedded_tfserving.rest_requests import (
    classify_regress_examples,
    example_from_json,
    parse_body,
    predict_request_tensors,
    signature_name,
)

OPENAPI = Path(embedded_tfserving.__file__).with_name("openapi.yaml")
DTYPES = ("DT_FLOAT", "DT_DOUBLE", "DT_INT32", "DT_INT64", "DT_INT16", "DT_INT8", "DT_UINT8", "DT_STRING", "DT_BOOL")

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["b64", "x", "y", "instances", "inputs"]), inner, max_size=3)),
    max_leaves=30)
bodies = st.one_of(st.binary(max_size=200),
                   json_values.map(lambda v: json.dumps(v).encode()),
                   st.dictionaries(st.sampled_from(["instances", "inputs", "signature_name", "extra"]), json_values,
                                   max_size=3).map(lambda d: json.dumps(d).encode()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, dtype=st.sampled_from(DTYPES), two_inputs=st.booleans())
def test_predict_parsing_raises_only_contract_errors(body: bytes, dtype: str, two_inputs: bool) -> None:
    inputs = {"x": dtype, "y": "DT_FLOAT"} if two_inputs else {"x": dtype}
    try:
        doc = parse_body(body)
        signature_name(doc)
        arrays, _ = predict_request_tensors(doc, inputs)
    except ServingError as error:
        assert error.http_status in (400, 501) and error.message
        return
    assert set(arrays) <= set(inputs) and all(isinstance(a, np.ndarray) for a in arrays.values())


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values | st.lists(st.lists(st.text(max_size=4), min_size=2, max_size=2), max_size=3),
       dtype=st.sampled_from(DTYPES))
def test_the_fast_path_gives_what_tf_servings_element_walk_gives(value, dtype: str) -> None:
    # numpy's conversion is only taken where it cannot differ from TF Serving's: same dtype, shape and
    # values as the walk, which must then not refuse the value either.
    converted = fast(value, dtype)
    if converted is None:
        return
    walked = walk(value, dtype)
    assert (converted.dtype, converted.shape) == (walked.dtype, walked.shape)
    if converted.dtype == object:
        assert converted.tolist() == walked.tolist()
    else:
        assert np.array_equal(converted, walked, equal_nan=converted.dtype.kind == "f")


def test_narrow_ints_wrap_like_tf_serving_and_wider_ones_are_refused() -> None:
    # TF Serving reads int8/int16/uint8 as int32 and narrows with a C cast.
    assert json_to_array([300, -1], "DT_UINT8").tolist() == [44, 255]
    assert json_to_array([[40000]], "DT_INT16").tolist() == [[-25536]]
    with pytest.raises(ServingError, match="is not of expected type"):
        json_to_array([2**31], "DT_INT8")


@settings(max_examples=200, deadline=None)
@given(value=json_values)
def test_int_tensors_refuse_nan_and_fractions(value) -> None:
    try:
        array = json_to_array(value, "DT_INT64")
    except ServingError as error:
        assert error.code in ("INVALID_ARGUMENT", "UNIMPLEMENTED")
        return
    assert array.dtype == np.int64
    flat = value if isinstance(value, list) else [value]
    assert not any(isinstance(v, float) and (math.isnan(v) or not v.is_integer()) for v in flat)


@settings(max_examples=100, deadline=None)
@given(examples=st.lists(st.dictionaries(st.text(min_size=1, max_size=4), json_values, max_size=3), max_size=3),
       verb=st.sampled_from(["classify", "regress"]))
def test_classify_regress_parsing_raises_only_contract_errors(examples, verb: str) -> None:
    try:
        classify_regress_examples({"examples": examples}, verb)
    except ServingError as error:
        assert error.http_status in (400, 501)


def test_example_integers_are_read_as_rapidjson_reads_them() -> None:
    # rapidjson keeps an integer that fits int64 or uint64 as one (TF Serving refuses the uint64s)
    # and reads any other as a double, which goes to float_list (found by the test above).
    assert example_from_json({"x": -2**63}).features.feature["x"].int64_list.value == [-2**63]
    with pytest.raises(ServingError, match="has uint64_t element"):
        example_from_json({"x": 2**64 - 1})
    for beyond in (-2**63 - 1, 2**64):
        feature = example_from_json({"x": beyond}).features.feature["x"]
        assert feature.WhichOneof("kind") == "float_list" and feature.float_list.value[0] == float(beyond)


schema = schemathesis.openapi.from_path(OPENAPI)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.slow
@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_rest_api_matches_its_openapi_description(case, plain_server) -> None:
    # Sent with plain requests: schemathesis' own transport trips over urllib3-future (pulled in by Locust).
    response = requests.request(**case.as_transport_kwargs(base_url=plain_server.rest_url), timeout=30)
    case.validate_response(response, checks=CHECKS)
