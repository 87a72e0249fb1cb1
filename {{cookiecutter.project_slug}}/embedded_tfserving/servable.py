"""One loaded model version: its SignatureDefs (as TF Serving reports them) and a way to run them.

Any SavedModel runs through TensorFlow itself: `tf.saved_model.load` exposes every SignatureDef
as a function, TF1 graphs (like TF Serving's half_plus_two test models) included. Models exported by
TF 1.0 (GraphDef producer <= 21, like half_plus_three) get their legacy shapes read as TF Serving
reads them first (legacy_savedmodel.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import ServingError, from_exception
from .legacy_savedmodel import load_rewritten, needs_rewrite

SERVE_TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def read_serve_meta_graph(version_dir: Path) -> Any:
    """The MetaGraphDef tagged `serve` in saved_model.pb, with TF Serving's errors when there is none."""
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
            return meta_graph
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
        meta_graph = read_serve_meta_graph(path)
        self.signature_defs = dict(meta_graph.signature_def)  # the file's own, also for legacy models
        try:
            if needs_rewrite(meta_graph):
                self._loaded = load_rewritten(path, [SERVE_TAG])
            else:
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
        function = self._functions[key]  # inputs were checked against the signature (inference.py)
        try:
            feeds = {alias: self._tf.constant(value) for alias, value in inputs.items()}
            outputs = function(**feeds)
        except Exception as error:
            raise from_exception(error) from None
        return {alias: np.asarray(tensor.numpy()) for alias, tensor in outputs.items()}  # a 0-d string is bytes

    def release(self) -> None:
        self._functions.clear()
        self._loaded = None
