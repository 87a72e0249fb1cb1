"""One loaded model version, as TF Serving's SavedModelBundle holds it: its SignatureDefs (as TF
Serving reports them) and a Session that runs them.

TF Serving loads a version with TensorFlow's C++ `LoadSavedModel`: the MetaGraphDef tagged `serve`
imported into a new Session (at the GraphDef's own producer version, so TF 1.0-era graphs keep
their version's shape rules), the saver's restore op run, then the init op; it never reads the
SavedModel's object graph. Requests run through `Session::Run`, fed and fetched by the
SignatureDef's tensor names. Here TensorFlow's own TF1 loader (`tf.compat.v1.saved_model.loader`)
does the same steps in a `tf.compat.v1.Session`, so a model TF Serving cannot run (a Keras 3 model
saved inside a `tf.Module`: its variables are never restored) fails here too, and one that runs
here runs there. `tf.saved_model.load`, which rebuilds Python objects from the object graph, is
more lenient and is not used.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ServingError, from_exception

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


def session_config(intra_op_threads: int = 0, inter_op_threads: int = 0) -> Any:
    """The ConfigProto TF Serving gives its sessions (0: TensorFlow picks, one thread per core)."""
    import tensorflow as tf

    return tf.compat.v1.ConfigProto(intra_op_parallelism_threads=intra_op_threads,
                                    inter_op_parallelism_threads=inter_op_threads)


def load_session(path: Path, config: Any = None) -> Any:
    """A Session holding the `serve` MetaGraphDef at path, restored and initialised (LoadSavedModel's steps)."""
    import tensorflow as tf
    from tensorflow.python.util import deprecation

    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=config)
    try:
        # The TF1 loader is deprecated in favour of tf.saved_model.load, which is exactly the lenient
        # object-graph path TF Serving does not take: keep its notice out of the server's log.
        with graph.as_default(), deprecation.silence():
            tf.compat.v1.saved_model.loader.load(session, [SERVE_TAG], str(path))
    except BaseException:
        session.close()
        raise
    return session


# A signature's runner: the signature's input values in `feeds` order -> its output values in `fetches` order.
Runner = tuple[Callable[..., list[Any]], tuple[str, ...], tuple[str, ...]]


class Servable:
    """A loaded version; `run` is blocking and thread-safe (the Session releases the GIL while it runs)."""

    def __init__(self, name: str, version: int, path: Path, config: Any = None) -> None:
        from tensorflow.core.framework import types_pb2

        self.name, self.version, self.path = name, version, path
        meta_graph = read_serve_meta_graph(path)
        self.signature_defs = dict(meta_graph.signature_def)
        try:
            self._session = load_session(path, config)
        except Exception as error:  # the loader's status code and the kernel's text, as TF Serving reports them
            failure = from_exception(error)
            raise ServingError(failure.code, f"Failed to load SavedModel at {path}: {failure.message}") from None
        self._runners: dict[str, Runner] = {}
        self._lock = threading.Lock()
        self.input_dtypes = {
            key: {alias: types_pb2.DataType.Name(info.dtype) for alias, info in sig.inputs.items()}
            for key, sig in self.signature_defs.items()}

    def signature(self, name: str) -> Any:
        """The SignatureDef for `name` ("" = serving_default); FAILED_PRECONDITION if absent (gRPC wording)."""
        key = name or DEFAULT_SIGNATURE
        if key not in self.signature_defs:
            raise ServingError("FAILED_PRECONDITION", f'Serving signature key "{key}" not found.')
        return self.signature_defs[key]

    def _runner(self, key: str) -> Runner:
        """The signature as a callable of the Session (C++ Session::MakeCallable, fed and fetched by the
        SignatureDef's tensor names), made on first use: as in TF Serving, a SignatureDef naming a
        tensor the graph lacks fails its requests, not the load. Not Session.make_callable, which
        checks fed shapes against the placeholders' in Python: Session::Run does not, so TF Serving
        accepts a scalar for a [-1, 1] input."""
        runner = self._runners.get(key)
        if runner is None:
            from tensorflow.core.protobuf import config_pb2

            with self._lock:
                runner = self._runners.get(key)  # another thread may have made it meanwhile
                if runner is not None:
                    return runner
                signature = self.signature_defs[key]
                feeds, fetches = tuple(sorted(signature.inputs)), tuple(sorted(signature.outputs))
                options = config_pb2.CallableOptions(feed=[signature.inputs[alias].name for alias in feeds],
                                                     fetch=[signature.outputs[alias].name for alias in fetches])
                runner = self._runners[key] = (self._session._make_callable_from_options(options), feeds, fetches)
        return runner

    def run(self, signature: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run a signature on inputs by alias (all of its inputs: inference.py fills the defaults in)."""
        key = signature or DEFAULT_SIGNATURE
        try:
            function, feeds, fetches = self._runner(key)
            values = function(*(inputs[alias] for alias in feeds))
        except Exception as error:
            raise from_exception(error) from None
        return {alias: np.asarray(value) for alias, value in zip(fetches, values)}  # a 0-d string is bytes

    def release(self) -> None:
        self._runners.clear()
        self._session.close()
