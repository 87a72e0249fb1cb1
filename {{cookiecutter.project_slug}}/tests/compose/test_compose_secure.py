"""The `secure` profile on a real Docker engine: nginx with the `make certs` certificate and API keys
in front of TF Serving, which publishes no port of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from embedded_tfserving.auth import read_api_keys

from {{ cookiecutter.package_name }}.contract import Access

from ..helpers import make, read_env
from .support import compose_project, serve, tear_down

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory, published_model, local_images) -> Iterator[Path]:
    root = compose_project(tmp_path_factory.mktemp("secure") / "project", published_model, local_images,
                           COMPOSE_PROFILES="secure")
    try:
        certs = make(root, "certs")
        assert certs.returncode == 0, certs.stderr
        served = serve(root)
        assert served.returncode == 0, served.stdout + served.stderr
        yield root
    finally:
        tear_down(root)


def status_request(model: str) -> get_model_status_pb2.GetModelStatusRequest:
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = model
    return request


def access(root: Path, with_key: bool = True) -> Access:
    """How a client reaches the stack: the `certs` CA, and the first API key (or none)."""
    key = read_api_keys(root / "certs" / "api_keys.txt")[0] if with_key else ""
    return Access(str(root / "certs" / "ca.pem"), key)


def test_rest_is_https_and_needs_a_key(secure_stack: Path, published_model) -> None:
    env, keyed, keyless = read_env(secure_stack), access(secure_stack), access(secure_stack, with_key=False)
    url = f"https://127.0.0.1:{env['REST_PORT']}/v1/models/{published_model.name}"
    assert requests.get(url, verify=keyed.verify, headers=keyed.headers(), timeout=10).json()[
        "model_version_status"][0]["state"] == "AVAILABLE"
    refused = requests.get(url, verify=keyless.verify, headers=keyless.headers(), timeout=10)
    assert refused.status_code == 401 and "API key" in refused.json()["error"]
    plain = requests.get(url.replace("https://", "http://"), headers=keyed.headers(), timeout=10)
    assert plain.status_code == 400 and "model_version_status" not in plain.text  # nginx: plain HTTP to an HTTPS port
    shown = make(secure_stack, "status")
    assert "compose proxy: running (healthy)" in shown.stdout and "compose tfserving-secure: running (healthy)" in shown.stdout


def test_grpc_is_tls_and_needs_a_key(secure_stack: Path, published_model) -> None:
    keyed = access(secure_stack)
    target = f"127.0.0.1:{read_env(secure_stack)['GRPC_PORT']}"
    with keyed.grpc_channel(target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        reply = stub.GetModelStatus(status_request(published_model.name), timeout=30, metadata=keyed.grpc_metadata())
        assert reply.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetModelStatus(status_request(published_model.name), timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with Access().grpc_channel(target) as channel, pytest.raises(grpc.RpcError) as plain:
        model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            status_request(published_model.name), timeout=10, metadata=keyed.grpc_metadata())
    assert plain.value.code() == grpc.StatusCode.UNAVAILABLE
