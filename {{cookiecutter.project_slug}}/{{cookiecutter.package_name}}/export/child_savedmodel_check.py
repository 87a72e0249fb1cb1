"""Check a SavedModel version the way TF Serving will meet it: in a clean process, with TensorFlow only.

Run as `python -I child_savedmodel_check.py --savedmodel DIR --signature-name NAME --signature JSON [--expected NPZ]`.
It deliberately imports nothing from the project, so that anything the SavedModel silently
needed from the training code (a Python layer, a custom op) shows up here and not in production.

Checks: the signature's input and output names, dtypes and shapes; every warmup record replays
through it; and, with --expected, its one output matches the Keras model's (record_<i> arrays in
the .npz) within --tolerance. Prints a JSON summary; on failure one line on stderr, exit 1.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any


class CheckFailed(Exception):
    pass


def spec_of(tensor_spec: Any) -> dict[str, Any]:
    return {"dtype": tensor_spec.dtype.name, "shape": list(tensor_spec.shape.as_list())}


def check_signature(signature: Any, name: str, expected: dict[str, Any]) -> None:
    actual_inputs = {name: spec_of(spec) for name, spec in signature.structured_input_signature[1].items()}
    actual_outputs = {name: spec_of(spec) for name, spec in signature.structured_outputs.items()}
    for kind, actual, wanted in (("inputs", actual_inputs, expected["inputs"]), ("outputs", actual_outputs, expected["outputs"])):
        if actual != wanted:
            raise CheckFailed(f"{name} {kind} are {json.dumps(actual)}, the schema expects {json.dumps(wanted)}")


def warmup_inputs(folder: Path, signature_name: str) -> list[dict[str, Any]]:
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    path = folder / "assets.extra" / "tf_serving_warmup_requests"
    if not path.is_file():
        raise CheckFailed(f"no warmup records at {path}: the first requests after a deploy would be slow")
    records = []
    for number, raw in enumerate(tf.data.TFRecordDataset(str(path)).as_numpy_iterator()):
        request = prediction_log_pb2.PredictionLog.FromString(raw).predict_log.request
        if request.model_spec.signature_name not in ("", signature_name):
            raise CheckFailed(f"warmup record {number} asks for signature {request.model_spec.signature_name!r}")
        records.append({name: tf.make_ndarray(proto) for name, proto in request.inputs.items()})
    if not 1 <= len(records) <= 1000:
        raise CheckFailed(f"{path} holds {len(records)} records; TF Serving needs 1 to 1000")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--savedmodel", type=Path, required=True)
    parser.add_argument("--signature-name", required=True, help="the signature TF Serving will serve")
    parser.add_argument("--signature", required=True, help="expected signature as JSON")
    parser.add_argument("--expected", type=Path, help=".npz of expected outputs, record_<i> per warmup record")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    try:
        try:
            loaded = tf.saved_model.load(str(args.savedmodel))
        except Exception as error:
            raise CheckFailed(f"TensorFlow cannot load it: {type(error).__name__}: {str(error).splitlines()[0]}") from None
        name = args.signature_name
        if name not in loaded.signatures:
            raise CheckFailed(f"no {name} signature (found: {sorted(loaded.signatures)})")
        signature = loaded.signatures[name]
        expected_signature = json.loads(args.signature)
        check_signature(signature, name, expected_signature)
        [output] = expected_signature["outputs"]
        records = warmup_inputs(args.savedmodel, name)
        expected = np.load(args.expected) if args.expected else None
        worst = 0.0
        for number, inputs in enumerate(records):
            try:
                outputs = signature(**{alias: tf.constant(value) for alias, value in inputs.items()})
            except Exception as error:
                raise CheckFailed(f"warmup record {number} fails: {type(error).__name__}: {str(error).splitlines()[0]}") from None
            if expected is not None:
                got, want = outputs[output].numpy(), expected[f"record_{number}"]
                if got.shape != want.shape:
                    raise CheckFailed(f"warmup record {number}: output shape {got.shape}, Keras gives {want.shape}")
                worst = max(worst, float(np.max(np.abs(got - want))))
        if expected is not None and worst > args.tolerance:
            raise CheckFailed(f"predictions differ from the Keras model's by up to {worst:.2e} (tolerance {args.tolerance:.0e})")
    except CheckFailed as failure:
        print(f"FAILED: {args.savedmodel}: {failure}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"records": len(records), "compared": expected is not None, "max_abs_difference": worst}))


if __name__ == "__main__":
    main()
