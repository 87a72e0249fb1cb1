"""Verification in clean processes: the `.keras` file reloads, and the SavedModel serves as TF Serving will.

Both checks run in a child process (`python -I`): in the process that trained or exported the
model every custom class is already imported, which hides exactly the mistakes that break a
deploy ("Unknown layer", a get_config() that forgets an argument, a SavedModel that secretly
needs the training code).
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

from ..contract import SIGNATURE, signature_spec
from ..data.schema import Schema
from ..errors import ExportError
from ..settings import PROJECT_ROOT
from .savedmodel import EXTRA, METADATA_FILE, file_sha256
from .warmup import WARMUP_FILE, read_warmup

if TYPE_CHECKING:
    import keras

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
        np.savez(npz, dense=features.dense, categorical=features.categorical, expected=expected)
        sys_path = os.pathsep.join(str(p) for p in (PROJECT_ROOT, *paths))
        result = _run_child("child_keras_reload.py", str(model_path), str(npz), sys_path, *modules)
    if result.returncode != 0:
        raise ExportError(explain_keras_failure(_last_line(result.stderr, "FAILED: "), model_path))


def verify_savedmodel(version_dir: Path, schema: Schema, model_path: Path | None = None) -> Verified:
    """Check version_dir in a clean process; compare with model_path's predictions when it is the source."""
    from .publish import check_savedmodel

    check_savedmodel(version_dir)
    note = ""
    with tempfile.TemporaryDirectory() as scratch:
        args = ["--savedmodel", str(version_dir), "--signature-name", SIGNATURE,
                "--signature", json.dumps(signature_spec(schema)), "--tolerance", str(TOLERANCE)]
        if model_path is not None and _converted_with_tensorrt(version_dir):
            note = ("this version was converted with TF-TRT: export compared it with the unconverted model "
                    "(tensorrt in its model_metadata.json); checked signature and warmup only")
        elif model_path is not None and _exported_from(version_dir, model_path):
            npz = Path(scratch) / "expected.npz"
            inputs = read_warmup(version_dir / EXTRA / WARMUP_FILE)
            outputs = _predict(load_keras_model(model_path, schema), inputs)
            records: dict[str, Any] = {f"record_{i}": values for i, values in enumerate(outputs)}
            np.savez(npz, **records)
            args += ["--expected", str(npz)]
        elif model_path is not None:
            note = f"{model_path} is not the model this version was exported from; checked signature and warmup only"
        result = _run_child("child_savedmodel_check.py", *args)
    if result.returncode != 0:
        raise ExportError(_last_line(result.stderr, "FAILED: "))
    summary = json.loads(_last_line(result.stdout))
    return Verified(summary["records"], summary["compared"], summary["max_abs_difference"], note)


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
