"""Model warmup: replay `<version>/assets.extra/tf_serving_warmup_requests` (a TFRecord file of
PredictionLog) before the version becomes AVAILABLE, so the first real request is not the slow one.

As TF Serving's saved_model_warmup_util.cc: no file is fine; a file that is not a TFRecord, a record
that does not parse, more than 1000 records or a record whose request fails ends the warmup with
that status, and the load fails with it (the version never becomes AVAILABLE)."""

from __future__ import annotations

from pathlib import Path

from .errors import ServingError, runtime_message
from .servable import Servable

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
MAX_RECORDS = 1000


def run_warmup(servable: Servable) -> int:
    """Run every record against `servable`; the number run. Any bad record fails the load."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from .inference import classify_arrays, predict_inputs, regress_arrays

    path = servable.path / WARMUP_FILE
    if not path.exists():
        return 0
    count = 0
    try:
        records = list(tf.data.TFRecordDataset(str(path)).take(MAX_RECORDS + 1).as_numpy_iterator())
    except tf.errors.OpError as error:  # saved_model_warmup_util.cc's wording for a file that is not a TFRecord
        raise ServingError("DATA_LOSS", f"{runtime_message(error.message)}. Please verify your warmup data is in "
                                        "TFRecord format.") from None
    if len(records) > MAX_RECORDS:
        raise ServingError("INVALID_ARGUMENT", f"Number of warmup records exceeds the maximum ({MAX_RECORDS}) at {path}")
    for record in records:
        log = prediction_log_pb2.PredictionLog()
        try:
            log.ParseFromString(record)
        except Exception:
            raise ServingError("INVALID_ARGUMENT", f"Failed to parse warmup record: {record!r} from {path}") from None
        kind = log.WhichOneof("log_type")
        if kind == "predict_log":
            servable.run(*predict_inputs(servable, log.predict_log.request))  # checked as a Predict call is
        elif kind in ("classify_log", "regress_log"):
            request = getattr(log, kind).request
            function = classify_arrays if kind == "classify_log" else regress_arrays
            function(servable, request.model_spec.signature_name, request.input, servable.run)
        else:
            raise ServingError("UNIMPLEMENTED", f"Unsupported log_type for warmup: {kind} in {path}")
        count += 1
    return count
