"""Checks before any load: a version is published, the server answers, the model is AVAILABLE
(the toolkit's checks), its inputs match the schema (this project's).

A load test against the wrong thing produces thousands of identical errors; these checks produce
one sentence instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tfserving_loadtest import preflight
from tfserving_loadtest.errors import ServerUnreachable
from tfserving_loadtest.preflight import check_grpc

from ..contract import DATA_TYPES, SIGNATURE, published_versions, signature_spec
from ..errors import LoadTestError

__all__ = ["check_grpc", "check_rest", "expected_inputs", "floor_ms", "newest_version"]


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


def check_rest(rest_url: str, model_name: str) -> dict[str, Any]:
    """The toolkit's checks (server, model, an AVAILABLE version), then this project's signature."""
    try:
        status = preflight.check_rest(rest_url, model_name)
    except ServerUnreachable as error:
        raise LoadTestError(str(error).replace("start it,", "start it with `make serve`,")) from None
    check_signature(preflight.metadata(rest_url, model_name), model_name)
    return status


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


def floor_ms(rest_url: str, model_name: str, rows: int = 1, count: int = 20) -> float:
    """The unloaded latency (the toolkit's floor_ms) with this project's requests of `rows` rows."""
    from .payloads import rest_bodies

    return preflight.floor_ms(rest_url, model_name, rest_bodies(model_name, rows, count), count)
