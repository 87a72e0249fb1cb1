"""Hostile and broken requests: each gets TF Serving's error shape and status, and the server keeps
serving everyone else (every test ends with a normal predict)."""

from __future__ import annotations

import http.client
import json
import os
import socket

import grpc
import pytest
import requests
from tensorflow_serving.apis import prediction_service_pb2_grpc

from .support import MODEL, PREDICT_BODY, raw_predict_request

pytestmark = pytest.mark.slow


def still_serving(server) -> None:
    reply = requests.post(f"{server.rest_url}/v1/models/{MODEL}:predict", data=PREDICT_BODY, timeout=30)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": [[2.5], [3.0]]}
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert stub.Predict(raw_predict_request([1, 1], [4.0]), timeout=30).outputs["y"].float_val == [4.0]


def post(server, body: bytes, path: str = f"/v1/models/{MODEL}:predict") -> requests.Response:
    return requests.post(server.rest_url + path, data=body, timeout=60)


def assert_error(reply: requests.Response, status: int, fragment: str) -> None:
    assert reply.status_code == status, reply.text[:300]
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert list(body) == ["error"] and fragment in body["error"], body


def test_body_over_the_limit_is_413_before_reading_it(plain_server) -> None:
    big = b'{"instances": [' + b"[1.0]," * (2 << 20) + b"[1.0]]}"  # ~12 MiB, limit 2 MiB
    assert_error(post(plain_server, big), 413, "--max_request_bytes")
    still_serving(plain_server)


def test_chunked_body_over_the_limit_is_413(plain_server) -> None:
    def chunks():
        yield b'{"instances": ['
        for _ in range(64):
            yield b"[1.0]," * 10_000  # 60 KB each, 3.8 MB in all
        yield b"[1.0]]}"

    reply = requests.post(f"{plain_server.rest_url}/v1/models/{MODEL}:predict", data=chunks(), timeout=60)
    assert_error(reply, 413, "--max_request_bytes")
    still_serving(plain_server)


@pytest.mark.parametrize("depth", [100, 900, 5000, 200_000])
def test_deeply_nested_json_is_a_clear_400(plain_server, depth: int) -> None:
    body = b'{"instances": ' + b"[" * depth + b"1.0" + b"]" * depth + b"}"
    reply = post(plain_server, body)
    assert reply.status_code == 400 and "error" in reply.json()
    still_serving(plain_server)


def test_deep_nesting_with_nan_takes_the_slow_parser_and_is_a_clear_400(plain_server) -> None:
    depth = 100_000  # orjson refuses NaN, so the stdlib parser (recursive) sees this one
    body = b'{"x": NaN, "instances": ' + b"[" * depth + b"]" * depth + b"}"
    reply = post(plain_server, body)
    assert reply.status_code == 400 and "error" in reply.json()
    still_serving(plain_server)


@pytest.mark.parametrize(("body", "fragment"), [
    (b'{"instances": [["a"]]}', "is not of expected type: float"),
    (b'{"instances": [[1.0]], "signature_name": "nope"}', 'Serving signature name: "nope" not found'),
    (b'{"instances": [[1.0]], "signature_name": 5}', "'signature_name' key must be a string value."),
    (b'{"instances": [[1.0]], "inputs": [[1.0]]}', "expecting only one of 'inputs' or 'instances'"),
    (b'{"instancez": [[1.0]]}', "Missing 'inputs' or 'instances' key"),
    (b"{not json", "JSON Parse error"),
    (b"", "JSON Parse error: The document is empty"),
    (b"\xff\xfe\x00garbage", "JSON Parse error"),
    (b"[1, 2, 3]", "Is not object"),
    (b'{"instances": [[1.0], [1.0, 2.0]]}', "Expecting"),
])
def test_malformed_predict_bodies_get_the_contract_error(plain_server, body: bytes, fragment: str) -> None:
    assert_error(post(plain_server, body), 400, fragment)
    still_serving(plain_server)


def test_nan_and_infinity_are_accepted_for_floats_as_in_tf_serving(plain_server) -> None:
    reply = post(plain_server, b'{"instances": [[NaN], [Infinity]]}')
    assert reply.status_code == 200, reply.text


def test_a_batch_above_max_batch_size_is_refused_not_run(plain_server) -> None:
    body = json.dumps({"instances": [[1.0]] * 50_000}).encode()  # 350 KB, within the byte limit
    assert_error(post(plain_server, body), 400, "Task size 50000 is larger than maximum input batch size 1000")
    still_serving(plain_server)


@pytest.mark.parametrize("path", [
    "/v1/models/..%2F..%2Fetc/versions/1",
    "/v1/models/..%2F..%2Fetc%2Fpasswd",
    f"/v1/models/{MODEL}/versions/..%2F..%2F1",
    "/v1/models/%2e%2e/%2e%2e/etc/metadata",
])
def test_path_traversal_in_model_and_version_is_an_error_not_a_file(plain_server, path: str) -> None:
    for method, suffix in (("GET", ""), ("POST", ":predict")):
        connection = http.client.HTTPConnection("127.0.0.1", plain_server.rest_port, timeout=30)
        connection.request(method, path + suffix, body=PREDICT_BODY if method == "POST" else None)
        reply = connection.getresponse()
        body = reply.read()
        connection.close()
        assert reply.status in (400, 404), (method, path, reply.status, body[:200])
        if path.startswith("/v1/"):
            assert "root:" not in body.decode(errors="replace")
    still_serving(plain_server)


def test_unknown_model_and_version_are_404(plain_server) -> None:
    assert_error(post(plain_server, PREDICT_BODY, "/v1/models/nope:predict"), 404, "Servable not found for request: Latest(nope)")
    assert_error(post(plain_server, PREDICT_BODY, f"/v1/models/{MODEL}/versions/{2**63 - 1}:predict"), 404,
                 "Servable not found")
    assert_error(post(plain_server, PREDICT_BODY, f"/v1/models/{MODEL}/versions/99999999999999999999:predict"), 400,
                 "Failed to convert version: 99999999999999999999 to numeric.")  # beyond int64, as TF Serving


def test_slowloris_headers_are_cut_off(plain_server) -> None:
    """Headers that never complete: the server closes the connection (header timeout 1 s)."""
    with socket.create_connection(("127.0.0.1", plain_server.rest_port), timeout=20) as sock:
        sock.sendall(b"POST /v1/models/hp2:predict HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert sock.recv(4096) == b""  # closed by the server, not our 20 s socket timeout
    still_serving(plain_server)


def test_a_body_that_never_arrives_gets_408_and_the_connection_closes(plain_server) -> None:
    with socket.create_connection(("127.0.0.1", plain_server.rest_port), timeout=20) as sock:
        sock.sendall(b"POST /v1/models/hp2:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"inst")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), head
    assert "--rest_body_timeout_seconds" in json.loads(body)["error"]
    still_serving(plain_server)


def test_many_idle_connections_do_not_stop_service(plain_server) -> None:
    sockets = [socket.create_connection(("127.0.0.1", plain_server.rest_port), timeout=20) for _ in range(200)]
    try:
        still_serving(plain_server)
    finally:
        for sock in sockets:
            sock.close()


def test_garbage_bytes_on_the_grpc_port_do_not_hurt(plain_server) -> None:
    for garbage in (os.urandom(4096), b"GET / HTTP/1.1\r\n\r\n", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + os.urandom(512)):
        with socket.create_connection(("127.0.0.1", plain_server.grpc_port), timeout=20) as sock:
            sock.sendall(garbage)
            try:
                while sock.recv(4096):
                    pass
            except (TimeoutError, ConnectionResetError):
                pass
    still_serving(plain_server)


@pytest.mark.parametrize(("shape", "values", "fragment"), [
    ([1_000_000, 1_000_000], [1.0], "declares 1000000000000 elements"),  # one value repeated over the shape
    ([-5, 1], [1.0], "negative dimension"),
])
def test_grpc_tensors_whose_declared_shape_would_allocate_too_much(plain_server, shape, values, fragment) -> None:
    with grpc.insecure_channel(plain_server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(raw_predict_request(shape, values), timeout=30)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in (caught.value.details() or "")
    still_serving(plain_server)


def test_grpc_message_over_the_limit_is_resource_exhausted(plain_server) -> None:
    values = [1.0] * (1 << 20)  # 4 MiB of floats, limit 2 MiB
    with grpc.insecure_channel(plain_server.grpc_target, options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(raw_predict_request([len(values), 1], values), timeout=30)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    still_serving(plain_server)
