"""Checks before any load: the server answers, the model has an AVAILABLE version, a request
succeeds, and how long one takes with no other load.

A load test against the wrong thing produces thousands of identical errors; these checks produce
one sentence instead.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from . import access
from .errors import LoadTestError, ServerUnreachable
from .stats import percentile
from .versions import AVAILABLE

__all__ = ["AVAILABLE", "answers", "check_grpc", "check_rest", "floor_ms", "get", "metadata"]


def answers(url: str) -> bool:
    """Whether a GET of `url` succeeds (a readiness probe: an exporter, a Prometheus)."""
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def get(url: str) -> requests.Response:
    """GET `url` with this process's access; LoadTestError when nobody answers or a key is wanted."""
    client = access.current()
    try:
        reply = requests.get(url, timeout=5, headers=client.headers(), verify=client.verify)
    except requests.RequestException as error:
        raise ServerUnreachable(f"the server is not reachable at {url} ({type(error).__name__}); "
                                "start it, or pass the right --host") from None
    if reply.status_code == 401:
        raise LoadTestError(f"the server at {url} wants an API key: set SERVING_API_KEY (or SERVING_API_KEY_FILE)")
    return reply


def check_rest(rest_url: str, model_name: str) -> dict[str, Any]:
    """The model's status JSON; LoadTestError naming what is wrong (no server, no model, none AVAILABLE)."""
    status = get(f"{rest_url}/v1/models/{model_name}")
    if status.status_code == 404:
        raise LoadTestError(
            f"model {model_name!r} not found on the server at {rest_url}: {status.json().get('error', status.text)}; "
            "check the model name (--model-name or MODEL_NAME) and what the server serves")
    if not status.ok:
        raise LoadTestError(f"model status at {rest_url} answered HTTP {status.status_code}: {status.text[:200]}")
    body: dict[str, Any] = status.json()
    versions = body.get("model_version_status", [])
    if not any(v.get("state") == AVAILABLE for v in versions):
        raise LoadTestError(f"model {model_name!r} has no AVAILABLE version on {rest_url}: {versions}")
    return body


def metadata(rest_url: str, model_name: str) -> dict[str, Any]:
    """GET /v1/models/<name>/metadata (the signatures)."""
    reply = get(f"{rest_url}/v1/models/{model_name}/metadata")
    if not reply.ok:
        raise LoadTestError(f"model metadata at {rest_url} answered HTTP {reply.status_code}: {reply.text[:200]}")
    found: dict[str, Any] = reply.json()
    return found


def check_grpc(target: str, timeout: float = 5.0) -> None:
    import grpc

    channel = access.current().grpc_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise LoadTestError(f"the gRPC API is not reachable at {target}; start the server or pass --grpc-target") from None
    finally:
        channel.close()


def floor_ms(rest_url: str, model_name: str, bodies: list[bytes], count: int = 20) -> float:
    """The median latency (ms) of `count` REST predictions sent one after another on one
    connection, cycling through `bodies`: what a request costs with no load, below which no
    latency objective can be met. LoadTestError when a prediction fails."""
    client = access.current()
    headers = {"Content-Type": "application/json", **client.headers()}
    url = f"{rest_url}/v1/models/{model_name}:predict"
    latencies = []
    with requests.Session() as session:
        for number in range(count + 2):
            started = time.perf_counter()
            reply = session.post(url, data=bodies[number % len(bodies)], headers=headers, timeout=30,
                                 verify=client.verify)
            if not reply.ok:
                raise LoadTestError(f"a prediction at {url} answered HTTP {reply.status_code}: {reply.text[:200]}")
            latencies.append((time.perf_counter() - started) * 1000)
    floor = percentile(latencies[2:], 0.5)  # the first two open the connection and warm the server
    assert floor is not None
    return floor
