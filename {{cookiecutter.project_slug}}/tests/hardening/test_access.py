"""TLS and API keys on both APIs, with the certificates `certs` makes; and the load-test clients
configured through SERVING_CA_FILE / SERVING_API_KEY_FILE."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc, prediction_service_pb2_grpc

from embedded_tfserving.auth import ApiKeys, presented_key
from embedded_tfserving.config import parse_ssl_config
from embedded_tfserving.errors import ConfigError, FlagError
from embedded_tfserving.flags import parse_flags
from embedded_tfserving.process import ServerProcess

from .support import MODEL, PREDICT_BODY, api_key, model_folder, predict_request

METRICS = "/monitoring/prometheus/metrics"


def monitoring_file(folder: Path) -> Path:
    path = folder / "monitoring.config"
    path.write_text('prometheus_config { enable: true, path: "' + METRICS + '" }')
    return path


@pytest.fixture(scope="module")
def secure_server(tf1_version, certs, tmp_path_factory) -> Iterator[ServerProcess]:
    """TLS on REST and gRPC from the PEM files, API keys required, metrics left open."""
    folder = tmp_path_factory.mktemp("secure")
    flags = ["--port=0", f"--model_name={MODEL}", f"--model_base_path={model_folder(folder, tf1_version)}",
             f"--ssl_cert_file={certs['server.pem']}", f"--ssl_key_file={certs['server-key.pem']}",
             f"--api_keys_file={certs['api_keys.txt']}", f"--monitoring_config_file={monitoring_file(folder)}"]
    with ServerProcess(flags, folder / "server.log", ca_file=certs["ca.pem"], api_key=api_key(certs)) as server:
        server.start()
        yield server


def rest(server, certs, headers: dict[str, str] | None = None, path: str = f"/v1/models/{MODEL}:predict") -> requests.Response:
    if path.endswith(":predict"):
        return requests.post(server.rest_url + path, data=PREDICT_BODY, headers=headers, verify=certs["ca.pem"], timeout=30)
    return requests.get(server.rest_url + path, headers=headers, verify=certs["ca.pem"], timeout=30)


def test_rest_needs_a_valid_key(secure_server, certs) -> None:
    for headers in (None, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        reply = rest(secure_server, certs, headers)
        assert reply.status_code == 401, headers
        assert reply.headers["Content-Type"].startswith("application/json") and "API key" in reply.json()["error"]
    key = api_key(certs)
    for headers in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}, {"authorization": f"bearer {key}"}):
        reply = rest(secure_server, certs, headers)
        assert reply.status_code == 200 and reply.json() == {"predictions": [[2.5], [3.0]]}
    assert rest(secure_server, certs, None, f"/v1/models/{MODEL}").status_code == 401


def test_metrics_stay_open_by_default(secure_server, certs) -> None:
    reply = rest(secure_server, certs, None, METRICS)
    assert reply.status_code == 200 and ":tensorflow:serving:request_count" in reply.text


def test_rest_is_tls_only_and_verifies_against_the_ca(secure_server, certs) -> None:
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{secure_server.rest_port}/v1/models/{MODEL}", timeout=10)
    with pytest.raises(requests.exceptions.SSLError):  # the system store does not know our CA
        requests.get(f"{secure_server.rest_url}/v1/models/{MODEL}", timeout=10)


def grpc_channel(server, certs) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(root_certificates=certs["ca.pem"].read_bytes())
    return grpc.secure_channel(server.grpc_target, credentials)


def test_grpc_needs_tls_and_a_valid_key(secure_server, certs) -> None:
    key = api_key(certs)
    with grpc_channel(secure_server, certs) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for metadata in ((), (("x-api-key", "wrong"),), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as caught:
                stub.Predict(predict_request([4.0]), timeout=30, metadata=metadata)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        for metadata in ((("x-api-key", key),), (("authorization", f"Bearer {key}"),)):
            assert stub.Predict(predict_request([4.0]), timeout=30, metadata=metadata).outputs["y"].float_val == [4.0]
        status = model_service_pb2_grpc.ModelServiceStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            status.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec={"name": MODEL}), timeout=30)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with grpc.insecure_channel(secure_server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                predict_request([4.0]), timeout=10, metadata=(("x-api-key", key),))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_ssl_config_file_and_protected_metrics(tf1_version, certs, tmp_path_factory) -> None:
    """TF Serving's --ssl_config_file (gRPC only, REST stays plain as in TF Serving); --protect_metrics."""
    folder = tmp_path_factory.mktemp("sslconfig")
    flags = ["--port=0", f"--model_name={MODEL}", f"--model_base_path={model_folder(folder, tf1_version)}",
             f"--ssl_config_file={certs['ssl_config.txt']}", f"--api_keys_file={certs['api_keys.txt']}",
             "--protect_metrics", f"--monitoring_config_file={monitoring_file(folder)}"]
    key = api_key(certs)
    with ServerProcess(flags, folder / "server.log", api_key=key) as server:
        server.start()
        assert requests.get(server.rest_url + METRICS, timeout=10).status_code == 401
        assert requests.get(server.rest_url + METRICS, headers={"X-API-Key": key}, timeout=10).status_code == 200
        with grpc_channel(server, certs) as channel:
            reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                predict_request([4.0]), timeout=30, metadata=(("x-api-key", key),))
            assert reply.outputs["y"].float_val == [4.0]


def test_load_test_clients_use_the_ca_and_key_from_the_environment(secure_server, certs, monkeypatch) -> None:
    from tfserving_loadtest.errors import LoadTestError

    from {{ cookiecutter.package_name }}.contract import version_states
    from {{ cookiecutter.package_name }}.loadtest import preflight

    monkeypatch.setenv("SERVING_CA_FILE", str(certs["ca.pem"]))
    monkeypatch.delenv("SERVING_API_KEY", raising=False)
    monkeypatch.delenv("SERVING_API_KEY_FILE", raising=False)
    with pytest.raises(LoadTestError, match="SERVING_API_KEY"):
        preflight.check_rest(secure_server.rest_url, MODEL)
    monkeypatch.setenv("SERVING_API_KEY_FILE", str(certs["api_keys.txt"]))
    assert version_states(secure_server.rest_url, MODEL)[1]["state"] == "AVAILABLE"
    preflight.check_grpc(secure_server.grpc_target)


def test_keys_are_read_one_per_line_and_compared_whole() -> None:
    keys = ApiKeys(["alpha", "beta-key"])
    assert keys.allows("alpha") and keys.allows("beta-key")
    assert not any(keys.allows(k) for k in (None, "", "alph", "alphaa", "ALPHA", "beta"))
    assert presented_key("Bearer  tok ", None) == "tok" and presented_key("Basic tok", None) is None
    assert presented_key("Bearer a", "b") == "b"


def test_bad_access_settings_fail_at_startup_naming_the_flag(tmp_path, certs) -> None:
    with pytest.raises(FlagError, match="--ssl_key_file"):
        parse_flags(["--model_base_path=/m", f"--ssl_cert_file={certs['server.pem']}"])
    with pytest.raises(FlagError, match="--api_keys_file"):
        parse_flags(["--model_base_path=/m", f"--api_keys_file={tmp_path / 'missing.txt'}"])
    with pytest.raises(FlagError, match="--protect_metrics"):
        parse_flags(["--model_base_path=/m", "--protect_metrics"])
    empty = tmp_path / "keys.txt"
    empty.write_text("# no keys yet\n\n")
    with pytest.raises(ConfigError, match="holds no keys"):
        ApiKeys.read(empty)
    with pytest.raises(ConfigError, match="server_cert"):
        parse_ssl_config('server_key: "x"')
    with pytest.raises(ConfigError, match="custom_ca"):
        parse_ssl_config('server_key: "x" server_cert: "y" client_verify: true')
    with pytest.raises(ConfigError, match=r"Error parsing text-format tensorflow\.serving\.SSLConfig"):
        parse_ssl_config("server_key { }")
