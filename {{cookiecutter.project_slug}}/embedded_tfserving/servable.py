"""One loaded model version: its SignatureDefs (as TF Serving reports them) and a way to run them.

Any SavedModel runs through TensorFlow itself: `tf.saved_model.load` exposes every SignatureDef
as a function, TF1 graphs (like TF Serving's half_plus_two test models) included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import ServingError, from_exception

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def read_signature_defs(version_dir: Path) -> dict[str, Any]:
    """SignatureDef protos of the `serve` MetaGraph, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = version_dir / "saved_model.pb"
    if not path.exists():
        raise ServingError("NOT_FOUND", f"Could not find SavedModel .pb or .pbtxt at supplied export directory "
                                        f"path: {version_dir}. Check that the directory exists and that you "
                                        "have the right permissions for accessing it.")
    try:
        saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    except Exception as error:  # DecodeError and friends: a truncated or foreign file
        raise ServingError("DATA_LOSS", f"Can't parse {path} as binary proto: {error}") from None
    for meta_graph in saved_model.meta_graphs:
        if SERVE_TAG in meta_graph.meta_info_def.tags:
            return dict(meta_graph.signature_def)
    found = [list(m.meta_info_def.tags) for m in saved_model.meta_graphs]
    raise ServingError("NOT_FOUND", "Could not find meta graph def matching supplied tags: " + "{ serve }. "
                                    f"To inspect available tag-sets in the SavedModel, please use the SavedModel "
                                    f"CLI: `saved_model_cli`; tag-sets found: {found}")


class Servable:
    """A loaded version; `run` is blocking and thread-safe (TensorFlow releases the GIL)."""

    def __init__(self, name: str, version: int, path: Path) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import types_pb2

        self.name, self.version, self.path = name, version, path
        self.signature_defs = read_signature_defs(path)
        try:
            self._loaded = tf.saved_model.load(str(path), tags=[SERVE_TAG])
        except Exception as error:
            raise ServingError("INTERNAL", f"Failed to load SavedModel at {path}: {error}") from None
        self._functions = dict(self._loaded.signatures)
        self._tf = tf
        self.input_dtypes = {
            key: {alias: types_pb2.DataType.Name(info.dtype) for alias, info in sig.inputs.items()}
            for key, sig in self.signature_defs.items()}

    def signature(self, name: str) -> Any:
        """The SignatureDef for `name` ("" = serving_default); FAILED_PRECONDITION if absent (gRPC wording)."""
        key = name or DEFAULT_SIGNATURE
        if key not in self.signature_defs or key not in self._functions:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{key}" not found.')
        return self.signature_defs[key]

    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        key = signature or DEFAULT_SIGNATURE
        function = self._functions[key]
        expected = self.signature_defs[key].inputs
        missing, extra = _braced(set(expected) - set(inputs)), _braced(set(inputs) - set(expected))
        if missing != "{}" or extra != "{}":
            raise ServingError("INVALID_ARGUMENT", f"Request inputs do not match required inputs for model "
                                                   f"`{self.name}`. Send extra: {extra}. Missing but required: {missing}.")
        try:
            feeds = {alias: self._tf.constant(value) for alias, value in inputs.items()}
            outputs = function(**feeds)
        except Exception as error:
            raise from_exception(error) from None
        return {alias: tensor.numpy() for alias, tensor in outputs.items()}

    def release(self) -> None:
        self._functions.clear()
        self._loaded = None


def _braced(names: set[str]) -> str:
    return "{" + ",".join(sorted(names)) + "}"
