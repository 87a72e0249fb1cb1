"""Checks before any load: a version is published, the server answers, the model is AVAILABLE,
its inputs match the schema.

A load test against the wrong thing produces thousands of identical errors; these checks produce
one sentence instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from ..contract import AVAILABLE, DATA_TYPES, SIGNATURE, Access, published_versions, signature_spec
from ..errors import LoadTestError


def newest_version(models_dir: Path, model_name: str) -> Path:
    """The folder of the model's highest published version; LoadTestError naming the fix when none."""
    base = models_dir / model_name
    versions = published_versions(base)
    if not versions:
        raise LoadTestError(f"no published version of model {model_name!r} under {base}: "
                            "run `make train export` first, or pass --models-dir")
    return versions[max(versions)]


def expected_inputs() -> dict[str, tuple[str, int]]:
    """Signature input name -> (DataType name, width), from the schema the payloads are built from."""
    from ..data.schema import load_schema

    inputs = signature_spec(load_schema())["inputs"]
    return {name: (DATA_TYPES[spec["dtype"]], spec["shape"][-1]) for name, spec in inputs.items()}


def _get(url: str, access: Access | None = None) -> requests.Response:
    access = access or Access.from_environment()
    try:
        reply = requests.get(url, timeout=5, headers=access.headers(), verify=access.verify)
    except requests.RequestException as error:
        raise LoadTestError(
            f"the server is not reachable at {url} ({type(error).__name__}); "
            "start it with `make serve` or pass --host"
        ) from None
    if reply.status_code == 401:
        raise LoadTestError(f"the server at {url} wants an API key: set SERVING_API_KEY (or SERVING_API_KEY_FILE)")
    return reply


def check_rest(rest_url: str, model_name: str) -> dict[str, Any]:
    """Returns the model's status JSON; raises LoadTestError naming what is wrong."""
    status = _get(f"{rest_url}/v1/models/{model_name}")
    if status.status_code == 404:
        raise LoadTestError(
            f"model {model_name!r} not found on the server at {rest_url}: {status.json().get('error', status.text)}; "
            "check MODEL_NAME (or --model-name) and what the server serves (`make status`)"
        )
    if not status.ok:
        raise LoadTestError(f"model status at {rest_url} answered HTTP {status.status_code}: {status.text[:200]}")
    body: dict[str, Any] = status.json()
    versions = body.get("model_version_status", [])
    if not any(v.get("state") == AVAILABLE for v in versions):
        raise LoadTestError(f"model {model_name!r} has no AVAILABLE version on {rest_url}: {versions}")
    check_signature(_get(f"{rest_url}/v1/models/{model_name}/metadata").json(), model_name)
    return body


def check_signature(metadata: dict[str, Any], model_name: str) -> None:
    """The serving signature's inputs must be exactly the schema's: same names, dtypes and widths."""
    signatures = metadata.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
    if SIGNATURE not in signatures:
        raise LoadTestError(f"model {model_name!r} has no {SIGNATURE} signature (found: {sorted(signatures)})")
    inputs = signatures[SIGNATURE].get("inputs", {})
    found = {}
    for name, info in inputs.items():
        dims = [int(d.get("size", -1)) for d in info.get("tensor_shape", {}).get("dim", [])]
        found[name] = (info.get("dtype"), dims[-1] if dims else None)
    expected = expected_inputs()
    if found != expected:
        raise LoadTestError(
            f"model {model_name!r} does not take this project's schema: its {SIGNATURE} inputs are "
            f"{found}, the schema needs {expected} (name: (dtype, width)); "
            "export the model from this project or point MODEL_NAME at one that was"
        )


def check_grpc(target: str, timeout: float = 5.0) -> None:
    import grpc

    channel = Access.from_environment().grpc_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise LoadTestError(f"the gRPC API is not reachable at {target}; start the server or pass --grpc-target") from None
    finally:
        channel.close()


def floor_ms(rest_url: str, model_name: str, rows: int = 1, count: int = 20) -> float:
    """The median latency (ms) of `count` REST predictions sent one after another on one
    connection: what a request costs with no load, below which no latency objective can be met."""
    import time

    from .payloads import rest_bodies
    from .stats import percentile

    access = Access.from_environment()
    headers = {"Content-Type": "application/json", **access.headers()}
    url = f"{rest_url}/v1/models/{model_name}:predict"
    latencies = []
    with requests.Session() as session:
        for body in rest_bodies(rows, count + 2):
            started = time.perf_counter()
            reply = session.post(url, data=body, headers=headers, timeout=30, verify=access.verify)
            if not reply.ok:
                raise LoadTestError(f"a prediction at {url} answered HTTP {reply.status_code}: {reply.text[:200]}")
            latencies.append((time.perf_counter() - started) * 1000)
    floor = percentile(latencies[2:], 0.5)  # the first two open the connection and warm the server
    assert floor is not None
    return floor
