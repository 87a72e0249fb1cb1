"""The serving export: a SavedModel whose `serving_default` signature is the project's contract.

    inputs:  dense        DT_FLOAT  [-1, len(schema.dense)]
             categorical  DT_STRING [-1, len(schema.categorical)]   (raw Criteo tokens)
    output:  probability  DT_FLOAT  [-1]

The SavedModel is written with Keras's own export API (`keras.export.ExportArchive`):
`serving_default` is an endpoint with an explicit input signature, so names, dtypes and
shapes are fixed here rather than inferred from the Keras graph. Not `tf.saved_model.save` of a
`tf.Module` holding the model: for a Keras 3 model that writes a graph whose variables TensorFlow's
C++ loader (the one TF Serving runs) never restores, so every request fails with "Could not find
variable ..." while `tf.saved_model.load` in Python still works (keras-team/keras#19274,
tensorflow/serving#2226). `verify.py` runs every export through that C++ loader.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..contract import OUTPUT, SIGNATURE, signature_spec
from ..data.schema import CATEGORICAL, DENSE, Schema
from ..errors import ExportError
from .warmup import WARMUP_FILE, write_warmup

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

METADATA_FILE = "model_metadata.json"
EXTRA = "assets.extra"


def check_model_inputs(model: keras.Model, schema: Schema) -> None:
    """The Keras model must take exactly the schema's inputs, or the signature would lie."""
    expected = {name: (spec["dtype"], spec["shape"][1]) for name, spec in signature_spec(schema)["inputs"].items()}
    inputs = model.inputs if isinstance(model.inputs, list) else [model.inputs]
    actual = {tensor.name: (str(tensor.dtype), tensor.shape[-1]) for tensor in inputs}
    if actual != expected:
        found = ", ".join(f"{n} {d}[{w}]" for n, (d, w) in sorted(actual.items()))
        wanted = ", ".join(f"{n} {d}[{w}]" for n, (d, w) in sorted(expected.items()))
        raise ExportError(
            f"the model's inputs ({found}) do not match the schema ({wanted}); "
            "retrain with `make train` after changing schema.yaml"
        )


def serving_archive(model: keras.Model, schema: Schema) -> keras.export.ExportArchive:
    """The model behind one endpoint; the archive saves the variables the endpoint uses.

    No `archive.track(model)`: it would save every variable twice (as the Keras variable and as the
    tf.Variable the endpoint captures), doubling the version on disk (16 MB instead of 8) and its load
    time. It is needed only to reach the variables from Python after a reload. Lookup tables of
    Keras's own layers are tracked by add_endpoint; anything it missed fails verify's C++ loader run."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()

    def serve(dense: tf.Tensor, categorical: tf.Tensor) -> dict[str, tf.Tensor]:
        probability = model({DENSE: dense, CATEGORICAL: categorical}, training=False)
        return {OUTPUT: tf.reshape(probability, [-1])}

    archive.add_endpoint(SIGNATURE, serve, input_signature=[
        tf.TensorSpec([None, len(schema.dense)], tf.float32, name=DENSE),
        tf.TensorSpec([None, len(schema.categorical)], tf.string, name=CATEGORICAL),
    ])
    return archive


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def export_savedmodel(
    model_path: Path,
    out_dir: Path,
    schema: Schema,
    model_name: str,
    evaluation: dict[str, Any] | None = None,
    warmup_requests: int = 100,
) -> Path:
    """Write the SavedModel (signature, warmup records, metadata) for the `.keras` file into out_dir."""
    import keras
    import tensorflow as tf

    from .. import model as _registers_custom_layers  # noqa: F401

    model = keras.saving.load_model(model_path, compile=False)  # no optimizer state in the export
    check_model_inputs(model, schema)
    serving_archive(model, schema).write_out(str(out_dir), verbose=False)
    records = write_warmup(out_dir / EXTRA / WARMUP_FILE, schema, model_name, warmup_requests)
    metadata = {
        "model_name": model_name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "keras_model": {"file": Path(model_path).name, "fingerprint": file_sha256(Path(model_path))},
        "signature": {SIGNATURE: signature_spec(schema)},
        "schema": {
            "label": schema.label,
            "dense": list(schema.dense),
            "categorical": list(schema.categorical),
            "hash_buckets": schema.hash_buckets,
            "embedding_dim": schema.embedding_dim,
        },
        "evaluation": evaluation,
        "training_data_fingerprint": (evaluation or {}).get("data", {}).get("fingerprint"),
        "warmup_records": records,
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    (out_dir / EXTRA / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
    return out_dir
