"""Verification in clean processes: the `.keras` file reloads, and the SavedModel runs as TF Serving runs it.

Both checks run in a child process. The Keras reload runs in `python -I`: in the process that
trained or exported the model every custom class is already imported, which hides exactly the
mistakes that break a deploy ("Unknown layer", a get_config() that forgets an argument). The
SavedModel runs in TensorFlow's C++ loader, the code TF Serving runs (tf_loader.py): no Python at
all, so a SavedModel that secretly needs the training code, or whose variables that loader never
restores, fails here and not in production.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..contract import OUTPUT, PREDICT_METHOD, SIGNATURE, signature_spec
from ..data.schema import Schema
from ..errors import ExportError
from ..settings import PROJECT_ROOT
from . import tf_loader
from .savedmodel import EXTRA, METADATA_FILE, file_sha256
from .warmup import MAX_RECORDS, WARMUP_FILE, read_warmup_requests, request_arrays

if TYPE_CHECKING:
    import keras
    from tensorflow_serving.apis.predict_pb2 import PredictRequest

HERE = Path(__file__).resolve().parent
TOLERANCE = 1e-5


@dataclass
class Verified:
    records: int
    compared_with_keras: bool
    max_abs_difference: float
    note: str = ""


def explain_keras_failure(message: str, model_path: Path) -> str:
    """Keras' deserialization errors are long nested dumps; say which layer and what to do."""
    prefix = f"{model_path} does not reload in a fresh process"
    unknown = re.search(r"Could not locate class '([\w.>]+)'", message)
    if unknown:
        return (f"{prefix}: layer {unknown.group(1)} is unknown there; decorate it with "
                "@keras.saving.register_keras_serializable(package=...) in a module the model package imports")
    rebuilt = re.search(r"Error when deserializing class '([\w.>]+)'", message)
    if rebuilt:
        cause = message.rsplit("Exception encountered:", 1)[-1].strip().strip("\"'")
        return (f"{prefix}: layer {rebuilt.group(1)} cannot be rebuilt from its config ({cause}); "
                f"implement get_config() in {rebuilt.group(1)} returning every constructor argument")
    unserializable = re.search(r"Object (\w+) was created by passing\s+non-serializable", message)
    if unserializable:
        return (f"layer {unserializable.group(1)} cannot be saved: its constructor takes values Keras cannot "
                f"serialize; implement get_config() in {unserializable.group(1)} returning every constructor argument")
    return f"{prefix}: {message.strip().splitlines()[-1] if message.strip() else 'unknown error'}"


def load_keras_model(model_path: Path, schema: Schema) -> keras.Model:
    """Load the `.keras` file here, explaining Keras' failures and checking its inputs against the schema."""
    import keras

    from .. import model as _registers_custom_layers  # noqa: F401
    from .savedmodel import check_model_inputs

    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as error:
        raise ExportError(explain_keras_failure(f"{type(error).__name__}: {error}", model_path)) from None
    check_model_inputs(model, schema)
    return model


def _predict(model: keras.Model, inputs: list[dict[str, np.ndarray]]) -> list[np.ndarray]:
    from ..train import as_tensors

    return [model(as_tensors(record), training=False).numpy().ravel() for record in inputs]


def _run_child(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    # -I: ignore PYTHONPATH, the user site and the current folder, as a fresh deployment would.
    return subprocess.run([sys.executable, "-I", str(HERE / script), *args], capture_output=True, text=True)


def _last_line(text: str, marker: str = "") -> str:
    """The child's report: its last line starting with `marker` (TensorFlow logs to stderr too)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    marked = [line[len(marker):] for line in lines if line.startswith(marker)]
    return marked[-1] if marked else lines[-1] if lines else "(no output)"


def check_keras_reload(model_path: Path, schema: Schema, modules: tuple[str, ...] | None = None,
                       paths: tuple[Path, ...] = ()) -> None:
    """Reload model_path in a clean process that imports only `modules` (default: the model package)."""
    from ..data.synthetic import generate

    modules = modules if modules is not None else (f"{__package__.split('.')[0]}.model",)
    features = generate(schema, 8, seed=99)
    [expected] = _predict(load_keras_model(model_path, schema), [features.inputs()])
    with tempfile.TemporaryDirectory() as scratch:
        npz = Path(scratch) / "reload.npz"
        arrays: dict[str, Any] = {**features.inputs(), "expected": expected}  # the child feeds all but `expected`
        np.savez(npz, **arrays)
        sys_path = os.pathsep.join(str(p) for p in (PROJECT_ROOT, *paths))
        result = _run_child("child_keras_reload.py", str(model_path), str(npz), sys_path, *modules)
    if result.returncode != 0:
        raise ExportError(explain_keras_failure(_last_line(result.stderr, "FAILED: "), model_path))


def serving_signature(version_dir: Path) -> Any:
    """The `serve` MetaGraphDef's serving SignatureDef, read from saved_model.pb as TF Serving reads it
    (by the embedded server's reader, with TF Serving's messages)."""
    from embedded_tfserving.errors import ServingError
    from embedded_tfserving.servable import read_serve_meta_graph

    try:
        signatures = read_serve_meta_graph(version_dir).signature_def
    except ServingError as error:
        raise ExportError(f"{version_dir}: {error.message}") from None
    if SIGNATURE not in signatures:
        raise ExportError(f"{version_dir} has no {SIGNATURE} signature (found: {sorted(signatures)})")
    return signatures[SIGNATURE]


def describe_signature(signature: Any) -> dict[str, Any]:
    """A SignatureDef's inputs and outputs as signature_spec writes them: dtype names, None for -1."""
    import tensorflow as tf

    def spec(info: Any) -> dict[str, Any]:
        shape = None if info.tensor_shape.unknown_rank else [d.size if d.size >= 0 else None for d in info.tensor_shape.dim]
        return {"dtype": tf.dtypes.as_dtype(info.dtype).name, "shape": shape}

    return {kind: {alias: spec(info) for alias, info in getattr(signature, kind).items()} for kind in ("inputs", "outputs")}


def check_signature(version_dir: Path, schema: Schema) -> None:
    """serving_default's inputs, output and method name are the contract's."""
    signature = serving_signature(version_dir)
    actual, expected = describe_signature(signature), signature_spec(schema)
    for kind in ("inputs", "outputs"):
        if actual[kind] != expected[kind]:
            raise ExportError(f"{SIGNATURE} {kind} are {json.dumps(actual[kind])}, the schema expects "
                              f"{json.dumps(expected[kind])}")
    if signature.method_name != PREDICT_METHOD:
        raise ExportError(f"{SIGNATURE}'s method name is {signature.method_name!r}, TF Serving's Predict API expects "
                          f"{PREDICT_METHOD!r}")


def warmup_records(version_dir: Path) -> list[PredictRequest]:
    """The version's warmup requests, checked as TF Serving will read them."""
    path = version_dir / EXTRA / WARMUP_FILE
    if not path.is_file():
        raise ExportError(f"no warmup records at {path}: the first requests after a deploy would be slow")
    requests = read_warmup_requests(path)
    if not 1 <= len(requests) <= MAX_RECORDS:
        raise ExportError(f"{path} holds {len(requests)} records; TF Serving needs 1 to {MAX_RECORDS}")
    for number, request in enumerate(requests):
        if request.model_spec.signature_name not in ("", SIGNATURE):
            raise ExportError(f"warmup record {number} asks for signature {request.model_spec.signature_name!r}")
    return requests


def verify_savedmodel(version_dir: Path, schema: Schema, model_path: Path | None = None) -> Verified:
    """Run version_dir's warmup records through TensorFlow's C++ loader (as TF Serving runs them) and
    compare its outputs with model_path's predictions when that file is its source."""
    from .publish import check_savedmodel

    check_savedmodel(version_dir)
    check_signature(version_dir, schema)
    requests = warmup_records(version_dir)
    outputs = [reply[OUTPUT] for reply in tf_loader.run(version_dir, SIGNATURE, [r.inputs for r in requests])]
    if model_path is None:
        return Verified(len(requests), False, 0.0)
    if _converted_with_tensorrt(version_dir):
        return Verified(len(requests), False, 0.0, "this version was converted with TF-TRT: export compared it with "
                        "the unconverted model (tensorrt in its model_metadata.json); checked signature and warmup only")
    if not _exported_from(version_dir, model_path):
        return Verified(len(requests), False, 0.0, f"{model_path} is not the model this version was exported from; "
                        "checked signature and warmup only")
    expected = _predict(load_keras_model(model_path, schema), [request_arrays(r) for r in requests])
    worst = 0.0
    for number, (got, want) in enumerate(zip(outputs, expected)):
        if got.shape != want.shape:
            raise ExportError(f"warmup record {number}: output shape {got.shape}, Keras gives {want.shape}")
        worst = max(worst, float(np.max(np.abs(got - want), initial=0.0)))
    if worst > TOLERANCE:
        raise ExportError(f"TensorFlow's C++ loader predicts differently from the Keras model, by up to {worst:.2e} "
                          f"(tolerance {TOLERANCE:.0e})")
    return Verified(len(requests), True, worst)


def hand_check_command(version_dir: Path, inputs_dir: Path) -> str:
    """The `saved_model_cli run` command that repeats the check by hand on the first warmup record (whose
    inputs it writes into inputs_dir as .npy files). saved_model_cli loads through TF's TF1 loader, the
    same graph, restore and init steps as the C++ one."""
    inputs_dir.mkdir(parents=True, exist_ok=True)
    [first, *_] = warmup_records(version_dir)
    files = []
    for name, array in sorted(request_arrays(first).items()):
        path = inputs_dir / f"{name}.npy"
        np.save(path, array.astype(bytes) if array.dtype == object else array)  # bytes, not pickled objects
        files.append(f"{name}={path}")
    return (f"saved_model_cli run --dir {version_dir} --tag_set serve --signature_def {SIGNATURE} "
            f"--inputs '{';'.join(files)}'")


def _converted_with_tensorrt(version_dir: Path) -> bool:
    """TF-TRT outputs differ from Keras' by more than TOLERANCE by design (reduced precision)."""
    metadata_file = version_dir / EXTRA / METADATA_FILE
    try:
        return "tensorrt" in json.loads(metadata_file.read_text())
    except (OSError, ValueError, TypeError):
        return False


def _exported_from(version_dir: Path, model_path: Path) -> bool:
    """True when the version's metadata names model_path's exact bytes as its source."""
    metadata_file = version_dir / EXTRA / METADATA_FILE
    if not model_path.is_file() or not metadata_file.is_file():
        return False
    try:
        recorded = json.loads(metadata_file.read_text())["keras_model"]["fingerprint"]
    except (ValueError, KeyError, TypeError):
        return False
    return recorded == file_sha256(model_path)
