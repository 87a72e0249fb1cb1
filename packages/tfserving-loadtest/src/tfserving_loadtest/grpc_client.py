"""gRPC plumbing for Locust: a PredictionService client that reports to Locust's statistics.

Import this module only inside Locust (after gevent's monkey patching): it switches gRPC to gevent,
without which every call would block the whole load-generator process.
"""

from __future__ import annotations

import time
from typing import Any

import grpc
import grpc.experimental.gevent as grpc_gevent

from . import access

grpc_gevent.init_gevent()

_channels: dict[str, grpc.Channel] = {}


def channel(target: str) -> grpc.Channel:
    """One HTTP/2 channel per target and process, shared by its users (as a real client would)."""
    if target not in _channels:
        _channels[target] = access.current().grpc_channel(target)  # SERVING_CA_FILE set: TLS
    return _channels[target]


class PredictClient:
    """Sends PredictRequests and fires Locust request events, with the served version as context."""

    def __init__(self, target: str, events: Any, timeout: float = 30.0) -> None:
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(channel(target))
        self._events = events
        self._timeout = timeout
        self._metadata = access.current().grpc_metadata()  # SERVING_API_KEY, when the server wants one

    def predict(self, request: Any, name: str = "Predict", started: float | None = None, route: str = "") -> int | None:
        """Returns the version that served the request (None on failure). The latency counts from
        `started` (time.perf_counter's clock; open loop passes the due time), else from now. `route`
        is the version label the request addresses, for the client metrics (metrics.py)."""
        start = time.perf_counter() if started is None else started
        version, length, exception = None, 0, None
        try:
            response = self._stub.Predict(request, timeout=self._timeout, metadata=self._metadata)
            version = response.model_spec.version.value
            length = response.ByteSize()
        except grpc.RpcError as error:
            exception = error
        self._events.request.fire(
            request_type="grpc", name=name, response_time=(time.perf_counter() - start) * 1000,
            response_length=length, exception=exception, context={"version": version, "route": route},
        )
        return version
