"""TensorFlow's C++ SavedModel loader, the one TF Serving runs, on a model version.

TF Serving loads a version with `tensorflow::LoadSavedModel` and runs requests with
`Session::Run`. Python's `tf.saved_model.load` takes another, more lenient route (the object graph),
so a model can load in Python and still fail in TF Serving. `tf_loader_check.cc` calls the C++
functions themselves; it is compiled against the installed TensorFlow wheel (its headers and
libraries) once per TensorFlow install and compiler, and cached.

Requests go to the program as one binary `tensorflow.StructuredValue` (struct.proto, shipped with
TensorFlow in both languages): a list with one dict per request, input alias -> `tensor_value`
(the request's TensorProto as it is). Its outputs come back in the same form.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExportError

SOURCE = Path(__file__).with_name("tf_loader_check.cc")
COMPILE_SECONDS, RUN_SECONDS = 300, 600
INSTALL_COMPILER = ("install a C++ compiler: g++ (Debian and Ubuntu: `sudo apt-get install g++`; "
                    "macOS: `xcode-select --install`), or set CXX to one")
# What to do when TF's loader reports a variable it never restored: the classic Keras 3 export trap.
KERAS_TRAP = ("the SavedModel's graph reads variable {name}, which TensorFlow's C++ loader never restored: "
              "it was written with tf.saved_model.save around a Keras 3 model (a tf.Module holding it), a graph "
              "TF Serving cannot run (keras-team/keras#19274, tensorflow/serving#2226). Export with Keras's export "
              "API instead (keras.export.ExportArchive, or model.export), as `make export` does")


class LoaderFailure(ExportError):
    """TensorFlow's C++ loader refused the version, or one of its requests failed there."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tf-loader-check"


def _compiler() -> str:
    name = os.environ.get("CXX") or "g++"
    found = shutil.which(name)
    if found is None:
        raise ExportError(f"the export is checked with TensorFlow's C++ loader (the one TF Serving runs), which is "
                          f"compiled once against the installed TensorFlow, and no C++ compiler was found "
                          f"({name!r} is not on the PATH): {INSTALL_COMPILER}")
    return found


def _build_command(compiler: str, output: Path) -> list[str]:
    """g++ with TensorFlow's own compile and link flags, plus libtensorflow_cc (the kernels and the direct
    session), kept even though nothing names it: without it no session factory registers."""
    import tensorflow as tf

    library_dir = Path(tf.sysconfig.get_lib())
    cc_libraries = sorted(library_dir.glob("libtensorflow_cc.so.*")) + sorted(library_dir.glob("libtensorflow_cc.*.dylib"))
    if not cc_libraries:
        raise ExportError(f"TensorFlow {tf.__version__} at {library_dir} ships no libtensorflow_cc library, which "
                          "TensorFlow's C++ loader needs: install the pinned tensorflow wheel (`make setup`)")
    keep = ["-Wl,--no-as-needed"] if platform.system() == "Linux" else []
    return [compiler, "-O1", "-w", *tf.sysconfig.get_compile_flags(), str(SOURCE), "-o", str(output),
            *tf.sysconfig.get_link_flags(), *keep, str(cc_libraries[-1]), f"-Wl,-rpath,{library_dir}"]


def checker() -> Path:
    """The compiled checker for this TensorFlow install, built first if it is not cached yet."""
    compiler = _compiler()
    command = _build_command(compiler, Path("OUT"))
    key = hashlib.sha256("\0".join([SOURCE.read_text(), *command]).encode()).hexdigest()[:16]
    binary = cache_dir() / key / "tf_loader_check"
    if binary.is_file():
        return binary
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f".tf_loader_check-{os.getpid()}")  # renamed when whole: builds may race
    result = subprocess.run(_build_command(compiler, partial), capture_output=True, text=True, timeout=COMPILE_SECONDS)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        errors = [line for line in result.stderr.splitlines() if "error" in line.lower()] or result.stderr.splitlines()
        raise ExportError(f"compiling TensorFlow's C++ loader check ({SOURCE.name}) with {compiler} failed: "
                          f"{(errors or ['no output'])[0].strip()}")
    os.replace(partial, binary)
    return binary


def explain(message: str) -> str:
    """The loader's status, with the fix when it is the Keras 3 trap."""
    missing = re.search(r"Could not find variable (\S+?)\.? ", message)
    return f"{message}; {KERAS_TRAP.format(name=missing.group(1))}" if missing else message


def run(version_dir: Path, signature: str, requests: Sequence[Mapping[str, Any]]) -> list[dict[str, np.ndarray]]:
    """Load version_dir with TensorFlow's C++ loader and run each request (input alias -> TensorProto)
    through `signature` with Session::Run; every request's outputs by alias. LoaderFailure when it
    does not load or a request fails."""
    import tensorflow as tf
    from tensorflow.core.protobuf import struct_pb2

    binary = checker()
    batch = struct_pb2.StructuredValue()
    for request in requests:
        fields = batch.list_value.values.add().dict_value.fields
        for alias, tensor in request.items():
            fields[alias].tensor_value.CopyFrom(tensor)
    with tempfile.TemporaryDirectory(prefix="tf-loader-check-") as scratch:
        sent, received = Path(scratch) / "requests.pb", Path(scratch) / "outputs.pb"
        sent.write_bytes(batch.SerializeToString())
        environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"}  # its INFO lines are the loader's timings
        result = subprocess.run([str(binary), str(version_dir), signature, str(sent), str(received)],
                                capture_output=True, text=True, timeout=RUN_SECONDS, env=environment)
        if result.returncode != 0:
            failed = [line.removeprefix("FAILED: ") for line in result.stderr.splitlines() if line.startswith("FAILED: ")]
            status = failed[-1] if failed else f"exit status {result.returncode}: {result.stderr.strip()[-500:]}"
            what = {1: "cannot load it", 2: "loads it, but a request fails"}.get(result.returncode, "failed")
            raise LoaderFailure(f"TensorFlow's C++ loader (the one TF Serving runs) {what}: {explain(status)}")
        replies = struct_pb2.StructuredValue.FromString(received.read_bytes())
    return [{alias: tf.make_ndarray(value.tensor_value) for alias, value in reply.dict_value.fields.items()}
            for reply in replies.list_value.values]
