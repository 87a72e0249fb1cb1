"""Small SavedModels to test a server with, built on the spot (no downloads), and a way to put a
version in place as a publisher must: atomically.

- `write_tf1_model`: a TF1 graph (tf.compat.v1 + SavedModelBuilder, like TF Serving's half_plus_two)
  with predict (serving_default), classify and regress signatures: y = a*x + b.
- `write_tf2_model`: a TF2 module with several inputs and outputs, a DT_STRING input and an output
  whose name ends in `_bytes`.
- `write_batching_parameters`: a BatchingParameters text proto for --batching_parameters_file.
- `place_version`: copy a version folder beside the others under a name the server ignores, then
  rename it to its number, so the server never sees it half-copied.
- `wait_for`: poll a condition until it holds, failing the test with what it waited for.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from .servable import DEFAULT_SIGNATURE


def write_tf1_model(version_dir: Path, a: float = 0.5, b: float = 2.0, slow_iterations: int = 0) -> Path:
    """slow_iterations > 0 adds a busy loop to serving_default, so a batch keeps its thread a while."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        serialized = v1.placeholder(tf.string, name="tf_example")
        parsed = v1.parse_example(serialized, {"x": v1.FixedLenFeature([1], tf.float32)})
        x = v1.placeholder(tf.float32, shape=[None, 1], name="x")
        weight, bias = tf.constant(a, name="a"), tf.constant(b, name="b")
        scale = weight
        if slow_iterations:
            _, scale = tf.while_loop(lambda i, s: i < slow_iterations, lambda i, s: (i + 1, s * 1.0),
                                     [tf.constant(0), weight])
        y = tf.add(scale * x, bias, name="y")
        y_from_example = tf.add(weight * parsed["x"], bias, name="y_from_example")
        info = v1.saved_model.build_tensor_info
        predict = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
        classify = v1.saved_model.signature_def_utils.build_signature_def(
            {"inputs": info(serialized)}, {"scores": info(y_from_example)}, "tensorflow/serving/classify")
        regress = v1.saved_model.signature_def_utils.build_signature_def(
            {"inputs": info(serialized)}, {"outputs": info(y_from_example)}, "tensorflow/serving/regress")
        with v1.Session(graph=graph) as session:
            builder = v1.saved_model.Builder(str(version_dir))
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={
                DEFAULT_SIGNATURE: predict, "classify_x_to_y": classify, "regress_x_to_y": regress})
            builder.save()
    return version_dir


def write_tf2_model(version_dir: Path) -> Path:
    """inputs: values DT_FLOAT [-1, 3], token DT_STRING [-1]; outputs: total [-1], doubled [-1, 3], echo_bytes [-1]."""
    import tensorflow as tf

    class Multi(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="values"),
                                      tf.TensorSpec([None], tf.string, name="token")])
        def serve(self, values: tf.Tensor, token: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"total": tf.reduce_sum(values, axis=1), "doubled": values * 2.0,
                    "echo_bytes": tf.strings.join([token, token])}

    module = Multi()
    tf.saved_model.save(module, str(version_dir), signatures={DEFAULT_SIGNATURE: module.serve})
    return version_dir


def place_version(source: Path, base_path: Path, version: int) -> Path:
    """`source` as base_path/<version>, renamed into place in one step."""
    base_path.mkdir(parents=True, exist_ok=True)
    staging = base_path / f".tmp-{version}-{os.getpid()}"
    shutil.copytree(source, staging)
    final = base_path / str(version)
    os.rename(staging, final)
    return final


def write_batching_parameters(path: Path, **fields: int) -> Path:
    """A BatchingParameters text proto at `path`, e.g. max_batch_size=8 -> `max_batch_size { value: 8 }`."""
    path.write_text("".join(name + " { value: " + str(value) + " }\n" for name, value in fields.items()))
    return path


def wait_for(condition: Callable[[], object], what: str, timeout: float = 120, interval: float = 0.2) -> None:
    """Poll `condition()` every `interval` seconds until it is true; AssertionError naming `what`
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(interval)
