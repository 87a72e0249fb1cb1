"""Predict, classify and regress on a loaded version, shared by REST, gRPC and warmup: turning
requests into signature inputs and signature outputs into results, with TF Serving's checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import invalid
from .servable import CLASSIFY_METHOD, DEFAULT_SIGNATURE, REGRESS_METHOD, Servable

Run = Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]]


def request_arrays(tensors: Any) -> dict[str, np.ndarray]:
    """A proto map<string, TensorProto> as numpy arrays."""
    import tensorflow as tf

    try:
        return {name: tf.make_ndarray(proto) for name, proto in tensors.items()}
    except Exception as error:
        raise invalid(f"Cannot parse input tensor: {error}") from None


def signature_key(name: str) -> str:
    return name or DEFAULT_SIGNATURE


def select_outputs(servable: Servable, signature: str, outputs: dict[str, np.ndarray],
                   output_filter: list[str]) -> dict[str, np.ndarray]:
    if not output_filter:
        return outputs
    expected = servable.signature_defs[signature_key(signature)].outputs
    for alias in output_filter:
        if alias not in expected:
            raise invalid(f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                          "{" + ",".join(sorted(expected)) + "}.")
    return {alias: outputs[alias] for alias in output_filter}


# --- classify / regress --------------------------------------------------------------------------

def serialized_examples(input_proto: Any) -> np.ndarray:
    """tf.Example bytes from an Input proto; a context is merged into every example (as TF Serving)."""
    kind = input_proto.WhichOneof("kind")
    if kind == "example_list":
        examples, context = input_proto.example_list.examples, b""
    elif kind == "example_list_with_context":
        examples = input_proto.example_list_with_context.examples
        context = input_proto.example_list_with_context.context.SerializeToString()
    else:
        raise invalid("Input is empty.")
    if not examples:
        raise invalid("Input is empty.")
    return np.array([context + e.SerializeToString() for e in examples], dtype=object)


def _one_input(servable: Servable, signature: str, method: str, what: str) -> tuple[str, Any]:
    key = signature_key(signature)
    sig = servable.signature_defs.get(key)
    if sig is None:
        raise invalid(f"No signature was found with the name: {key}")
    if sig.method_name != method:
        raise invalid(f"Expected {what} signature method_name to be {method}. Was: {sig.method_name}")
    if len(sig.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    return key, sig


def classify_inputs(servable: Servable, signature: str, input_proto: Any) -> tuple[str, dict[str, np.ndarray]]:
    key, sig = _one_input(servable, signature, CLASSIFY_METHOD, "classification")
    if "classes" not in sig.outputs and "scores" not in sig.outputs:
        raise invalid("Expected classification signature outputs to contain classes or scores.")
    return key, {next(iter(sig.inputs)): serialized_examples(input_proto)}


def classify_result(outputs: dict[str, np.ndarray], count: int) -> tuple[list[list[str]], list[list[float]]]:
    """(labels, scores) per example; a missing classes output gives empty labels, as in TF Serving."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for tensor in (classes, scores):
        if tensor is not None and (tensor.ndim != 2 or tensor.shape[0] != count):
            raise invalid(f"Expected Tensor shape: [{count} num_classes] but got {list(tensor.shape)}")
    reference = classes if classes is not None else scores
    if reference is None:
        raise invalid("Expected classification signature outputs to contain classes or scores.")
    width = reference.shape[1]
    labels = [[c.decode() if isinstance(c, bytes) else str(c) for c in row] for row in classes] if classes is not None \
        else [[""] * width for _ in range(count)]
    values = scores.astype(float).tolist() if scores is not None else [[0.0] * width for _ in range(count)]
    return labels, values


def regress_inputs(servable: Servable, signature: str, input_proto: Any) -> tuple[str, dict[str, np.ndarray]]:
    key, sig = _one_input(servable, signature, REGRESS_METHOD, "regression")
    if "outputs" not in sig.outputs:
        raise invalid("No output tensor named outputs found in regression signature.")
    return key, {next(iter(sig.inputs)): serialized_examples(input_proto)}


def regress_result(outputs: dict[str, np.ndarray], count: int) -> list[float]:
    values = outputs["outputs"]
    if not (values.shape == (count,) or values.shape == (count, 1)):
        raise invalid(f"Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                      f"{list(values.shape)}")
    return values.reshape(-1).astype(float).tolist()


def classify_arrays(servable: Servable, signature: str, input_proto: Any, run: Run) -> Any:
    key, inputs = classify_inputs(servable, signature, input_proto)
    return classify_result(run(key, inputs), len(next(iter(inputs.values()))))


def regress_arrays(servable: Servable, signature: str, input_proto: Any, run: Run) -> Any:
    key, inputs = regress_inputs(servable, signature, input_proto)
    return regress_result(run(key, inputs), len(next(iter(inputs.values()))))


def check_predict_inputs(servable: Servable, signature: str, inputs: dict[str, np.ndarray]) -> None:
    expected = servable.signature_defs[signature_key(signature)].inputs
    for alias in inputs:
        if alias not in expected:
            raise invalid(f"input tensor alias not found in signature: {alias}. Inputs expected to be in the set "
                          "{" + ",".join(sorted(expected)) + "}.")
