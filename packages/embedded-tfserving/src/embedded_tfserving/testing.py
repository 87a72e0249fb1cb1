"""Small SavedModels to test a server with, built on the spot (no downloads), and a way to put a
version in place as a publisher must: atomically.

- `write_tf1_model`: a TF1 graph (tf.compat.v1 + SavedModelBuilder, like TF Serving's half_plus_two)
  with predict (serving_default), classify and regress signatures: y = a*x + b.
- `write_tf2_model`: a TF2 module with several inputs and outputs, a DT_STRING input and an output
  whose name ends in `_bytes`.
- `write_json_model`: one signature per dtype (identity), multi-input ones and classify/regress
  ones, for the REST JSON conformance tests (json_tensor_test.cc's cases).
- `write_batching_parameters`: a BatchingParameters text proto for --batching_parameters_file.
- `place_version`: copy a version folder beside the others under a name the server ignores, then
  rename it to its number, so the server never sees it half-copied.
- `wait_for`: poll a condition until it holds, failing the test with what it waited for.
- `tf_serving_testdata_dir`: where TF Serving's own test models are (TF_SERVING_TESTDATA, else a
  `shared/fixtures/tf_serving_testdata` beside an ancestor of the working folder or of this file).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


# write_json_model: identity signatures "<dtype>" (input and output "default", any shape).
JSON_MODEL_DTYPES = ("float", "double", "int32", "int16", "int8", "uint8", "int64", "bool", "uint32", "uint64",
                     "string", "half")
# The features the "classify_echo" signature reads from each tf.Example, and their types.
ECHO_FEATURES = (("names", "string"), ("ratings", "float32"), ("age", "int64"), ("intboolmix", "int64"),
                 ("query", "string"), ("location", "string"))


def _identity_signatures(tf: Any) -> dict[str, Any]:
    def identity(dtype: Any, output: str, *names: str) -> Any:
        specs = [tf.TensorSpec(None, dtype if isinstance(dtype, tf.DType) else dtype[i], name=n) for i, n in enumerate(names)]
        return tf.function(lambda *args: {o: tf.identity(a) for o, a in zip(output.split(), args)}, input_signature=specs)

    string, int32 = tf.string, tf.int32
    signatures = {name: identity(tf.dtypes.as_dtype(name if name != "half" else "float16"), "default", "default")
                  for name in JSON_MODEL_DTYPES}
    signatures["bytes"] = identity(string, "str_tensor_bytes", "default")
    signatures["multiple_named"] = identity((int32, string, tf.float32, tf.float64), "int_tensor str_tensor float_tensor "
                                            "dbl_tensor", "int_tensor", "str_tensor", "float_tensor", "dbl_tensor")
    signatures["columnar_named"] = identity((int32, string, string), "int_tensor str_tensor bin_tensor",
                                            "int_tensor", "str_tensor", "bin_tensor")
    signatures["two_named"] = identity((int32, string), "int_tensor str_tensor", "int_tensor", "str_tensor")
    names = "int_tensor str_tensor float_tensor double_scalar_tensor str_tensor_bytes"
    signatures["many_outputs"] = identity((int32, string, tf.float32, tf.float64, string), names, *names.split())
    return signatures


def _output_signatures(tf: Any) -> dict[str, Any]:
    """Outputs TF Serving's reply writer refuses or treats specially, from a float input "x"."""
    def outputs(build: Callable[[Any], dict[str, Any]]) -> Any:
        return tf.function(build, input_signature=[tf.TensorSpec(None, tf.float32, name="x")])

    return {
        "scalar_output": outputs(lambda x: {"total": tf.reduce_sum(x)}),
        "batch_mismatch": outputs(lambda x: {"int_tensor": tf.cast(x, tf.int32),
                                             "str_tensor": tf.strings.as_string(x[:1])}),
        "zero_batch": outputs(lambda x: {"int_tensor": tf.zeros([0, 2], tf.int32)}),
        "zero_batches": outputs(lambda x: {"str_tensor": tf.zeros([0, 1, 2], tf.string), "float_tensor": tf.zeros([0, 3, 4])}),
        "zero_batch_mismatch": outputs(lambda x: {"int_tensor": tf.zeros([0, 2], tf.int32),
                                                  "str_tensor": tf.fill([1, 2], "foo")}),
        "complex_output": outputs(lambda x: {"tensor": tf.complex(x, x)}),
        "half_output": outputs(lambda x: {"tensor": tf.cast(x, tf.float16)}),
    }


def _example_signatures(tf: Any) -> dict[str, Any]:
    """Classify/regress signatures over serialized tf.Examples ("inputs")."""
    def examples(build: Callable[[Any], dict[str, Any]]) -> Any:
        return tf.function(build, input_signature=[tf.TensorSpec([None], tf.string, name="inputs")])

    def echo(serialized: Any) -> dict[str, Any]:
        """classes: "<feature>=<values joined by ,>" per ECHO_FEATURES; scores: how many values."""
        parsed = tf.io.parse_example(serialized, {n: tf.io.RaggedFeature(tf.dtypes.as_dtype(t)) for n, t in ECHO_FEATURES})
        labels, counts = [], []
        for name, kind in ECHO_FEATURES:
            values = parsed[name] if kind == "string" else tf.ragged.map_flat_values(tf.strings.as_string, parsed[name])
            labels.append(name + "=" + tf.strings.reduce_join(values, axis=1, separator=","))
            counts.append(tf.cast(parsed[name].row_lengths(), tf.float32))
        return {"classes": tf.stack(labels, axis=1), "scores": tf.stack(counts, axis=1)}

    def labelled(serialized: Any) -> dict[str, Any]:
        scores = tf.io.parse_example(serialized, {"scores": tf.io.FixedLenFeature([3], tf.float32)})["scores"]
        return {"classes": tf.tile([["car", "bike", "bus"]], [tf.shape(scores)[0], 1]), "scores": scores}

    def regress(serialized: Any) -> dict[str, Any]:
        return {"outputs": tf.io.parse_example(serialized, {"value": tf.io.FixedLenFeature([1], tf.float32)})["value"]}

    return {"classify_echo": examples(echo), "classify_labels": examples(labelled), "regress_value": examples(regress)}


def write_json_model(version_dir: Path) -> Path:
    """A TF2 model with the dtypes and shapes of TF Serving's json_tensor_test.cc: identity
    signatures per dtype ("float", "int64", "string", ... input and output "default"), "bytes"
    (output "str_tensor_bytes"), multi-input identities ("multiple_named", "columnar_named",
    "two_named", "many_outputs"), outputs the reply writer handles specially ("scalar_output",
    "batch_mismatch", "zero_batch", "zero_batches", "zero_batch_mismatch", "complex_output",
    "half_output", input "x"), and classify/regress signatures over tf.Examples ("classify_echo",
    "classify_labels" with labels car/bike/bus, "regress_value")."""
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2

    signatures = {**_identity_signatures(tf), **_output_signatures(tf), **_example_signatures(tf)}
    tf.saved_model.save(tf.Module(), str(version_dir), signatures=signatures)
    # tf.saved_model.save marks every signature "predict"; TF Serving's classify/regress check the method.
    path = version_dir / "saved_model.pb"
    saved_model = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for name, signature in saved_model.meta_graphs[0].signature_def.items():
        if name.startswith(("classify_", "regress_")):
            signature.method_name = f"tensorflow/serving/{name.split('_')[0]}"
    path.write_bytes(saved_model.SerializeToString())
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


def tf_serving_testdata_dir() -> Path | None:
    """TF Serving's test models (saved_model_half_plus_two_2_versions, ...), if they are here."""
    if os.environ.get("TF_SERVING_TESTDATA"):
        return Path(os.environ["TF_SERVING_TESTDATA"])
    for start in (Path.cwd(), Path(__file__).resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "shared" / "fixtures" / "tf_serving_testdata"
            if candidate.is_dir():
                return candidate
    return None
