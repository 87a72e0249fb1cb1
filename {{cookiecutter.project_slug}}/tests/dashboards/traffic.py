"""Real traffic for the dashboard proof: REST and gRPC predict calls in a background thread, with
client-side metrics recorded under the load generator's metric names."""

from __future__ import annotations

import threading
import time

import grpc
import requests
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

DENSE, CATEGORICAL = 13, 26  # the serving signature (CONTRIBUTING.md)
DT_FLOAT, DT_STRING = 1, 7


class ClientMetrics:
    """The load generator's exporter names (loadtest_*) on a port Prometheus scrapes.

    Stand-in until the load generator's own exporter can be started from a test: same names and
    labels, and every observation is a real request's outcome and latency.
    """

    def __init__(self, port: int) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("loadtest_requests", "Requests sent", ["protocol", "outcome"], registry=self.registry)
        self.latency = Histogram("loadtest_request_latency_seconds", "Round-trip latency", ["protocol"], registry=self.registry)
        self.users = Gauge("loadtest_users", "Simulated users", registry=self.registry)
        self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def grpc_request(model: str) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    dense = request.inputs["dense"]
    dense.dtype = DT_FLOAT
    dense.tensor_shape.dim.add(size=1)
    dense.tensor_shape.dim.add(size=DENSE)
    dense.float_val.extend([0.5] * DENSE)
    categorical = request.inputs["categorical"]
    categorical.dtype = DT_STRING
    categorical.tensor_shape.dim.add(size=1)
    categorical.tensor_shape.dim.add(size=CATEGORICAL)
    categorical.string_val.extend([b"68fd1e64"] * CATEGORICAL)
    return request


class Traffic:
    """Alternate REST and gRPC predicts until stopped (bounded by max_seconds)."""

    def __init__(self, rest_url: str, grpc_target: str, model: str, metrics: ClientMetrics, max_seconds: float = 60) -> None:
        self.rest = f"{rest_url}/v1/models/{model}:predict"
        self.body = {"instances": [{"dense": [0.5] * DENSE, "categorical": ["68fd1e64"] * CATEGORICAL}]}
        self.channel = grpc.insecure_channel(grpc_target)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.grpc_request = grpc_request(model)
        self.metrics, self.max_seconds = metrics, max_seconds
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _call(self, protocol: str) -> None:
        start = time.perf_counter()
        try:
            if protocol == "rest":
                ok = requests.post(self.rest, json=self.body, timeout=10).ok
            else:
                self.stub.Predict(self.grpc_request, timeout=10)
                ok = True
        except (requests.RequestException, grpc.RpcError):
            ok = False
        self.metrics.latency.labels(protocol).observe(time.perf_counter() - start)
        self.metrics.requests.labels(protocol, "success" if ok else "failure").inc()

    def _run(self) -> None:
        self.metrics.users.set(1)
        deadline = time.monotonic() + self.max_seconds
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            self._call("rest")
            self._call("grpc")
            time.sleep(0.02)
        self.metrics.users.set(0)

    def __enter__(self) -> "Traffic":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join()
        self.channel.close()
