"""Predict, classify and regress on a loaded version, shared by REST, gRPC and warmup: TF Serving's
checks of a request against the signature, in its order and words (predict_util.cc,
classifier.cc, regressor.cc, util.cc; the signature method-name check off, its default), turning
requests into signature inputs and signature outputs into results."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from google.protobuf import text_format

from . import tensor_protos
from .errors import invalid
from .servable import DEFAULT_SIGNATURE, Servable

Run = Callable[[str, dict[str, np.ndarray]], dict[str, np.ndarray]]
CLASSIFY_INPUTS, CLASSIFY_CLASSES, CLASSIFY_SCORES = "inputs", "classes", "scores"
REGRESS_INPUTS, REGRESS_OUTPUTS = "inputs", "outputs"


def signature_key(name: str) -> str:
    return name or DEFAULT_SIGNATURE


def _keys(names: Any) -> str:
    return "{" + ",".join(sorted(names)) + "}"


def _shape(shape: tuple[int, ...]) -> str:
    """TensorShape::DebugString()."""
    return "[" + ",".join(map(str, shape)) + "]"


def _debug_string(signature: Any) -> str:
    """SignatureDef::DebugString(): the text format, map entries sorted, as C++ prints it."""
    return str(text_format.MessageToString(signature))


def _dtype_enum_name(number: int) -> str:
    from tensorflow.core.framework import types_pb2

    return str(types_pb2.DataType.Name(number))


def _dtype_name(number: int) -> str:
    """DataTypeString(): DT_FLOAT -> float."""
    return _dtype_enum_name(number).removeprefix("DT_").lower()


def _array_dtype_name(array: np.ndarray) -> str:
    """DataType_Name() of an output tensor (numpy object arrays hold strings)."""
    import tensorflow as tf

    return "DT_STRING" if array.dtype.kind in "OSU" else _dtype_enum_name(tf.dtypes.as_dtype(array.dtype).as_datatype_enum)


# --- predict ------------------------------------------------------------------------------------

def check_predict_request(signature: Any, tensors: Mapping[str, Any]) -> None:
    """A PredictRequest's inputs (TensorProtos by alias) against the signature, before anything runs:
    VerifyRequestInputsSize (predict_util.cc), then GetInputValues (saved_model/util.cc), then the
    session's argument types ("Expects arg[i]"; i counts the signature's inputs in sorted order,
    as TF Serving's order comes from its proto map)."""
    expected, sent, defaults = signature.inputs, set(tensors), set(signature.defaults)
    if len(sent) > len(expected) or (len(sent) < len(expected) and not defaults):
        raise invalid(f"input size does not match signature: {len(sent)}!={len(expected)} len({_keys(sent)}) != "
                      f"len({_keys(expected)}). Sent extra: {_keys(sent - set(expected))}. "
                      f"Missing but required: {_keys(set(expected) - sent)}.")
    for alias in sorted(expected):
        if alias not in sent and alias not in defaults:
            raise invalid(f"Signature input alias: {alias}(feed name: {expected[alias].name}) not found in request and "
                          f"no default value provided. Inputs expected to be in the request {_keys(sent)}, or default "
                          f"input alias set: {','.join(sorted(defaults))}")
    if sent - set(expected):
        used = sorted(sent & set(expected))
        raise invalid(f"Inputs contains invalid name. Used request inputs: {','.join(used)}, "
                      f"request input: {','.join(sorted(sent))}")
    for index, alias in enumerate(sorted(expected)):
        proto = tensors.get(alias)
        if proto is not None and proto.dtype != expected[alias].dtype:
            raise invalid(f"Expects arg[{index}] to be {_dtype_name(expected[alias].dtype)} but "
                          f"{_dtype_name(proto.dtype)} is provided")


def request_arrays(signature: Any, tensors: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The request's TensorProtos as numpy arrays, the signature's defaults filled in."""
    arrays = {}
    for alias in signature.inputs:
        proto = tensors.get(alias, signature.defaults.get(alias))
        try:
            arrays[alias] = tensor_protos.to_array(proto)
        except Exception:
            raise invalid(f"tensor parsing error: {alias}") from None
    return arrays


def check_output_filter(signature: Any, output_filter: list[str]) -> None:
    """PreProcessPrediction's output_filter checks: each alias known, none twice."""
    seen: set[str] = set()
    for alias in output_filter:
        if alias not in signature.outputs:
            raise invalid(f"output tensor alias not found in signature: {alias} Outputs expected to be in the set "
                          f"{_keys(signature.outputs)}.")
        if alias in seen:
            raise invalid(f"duplicate output tensor alias: {alias}")
        seen.add(alias)


def predict_inputs(servable: Servable, request: Any) -> tuple[str, dict[str, np.ndarray]]:
    """(signature key, inputs) of a PredictRequest, checked as RunPredict checks it."""
    key = signature_key(request.model_spec.signature_name)
    signature = servable.signature(key)
    check_predict_request(signature, request.inputs)
    arrays = request_arrays(signature, request.inputs)
    check_output_filter(signature, list(request.output_filter))
    return key, arrays


def select_outputs(outputs: dict[str, np.ndarray], output_filter: list[str]) -> dict[str, np.ndarray]:
    return {alias: outputs[alias] for alias in output_filter} if output_filter else outputs


# --- classify / regress -------------------------------------------------------------------------

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


def _named_signature(servable: Servable, name: str) -> tuple[str, Any]:
    key = signature_key(name)
    signature = servable.signature_defs.get(key)
    if signature is None:
        raise invalid(f"No signature was found with the name: {key}")
    return key, signature


def classify_inputs(servable: Servable, signature_name: str, input_proto: Any) -> tuple[str, dict[str, np.ndarray]]:
    """PreProcessClassification: one input named "inputs", one or two outputs, classes and/or scores."""
    key, signature = _named_signature(servable, signature_name)
    if len(signature.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if len(signature.outputs) not in (1, 2):
        raise invalid(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if CLASSIFY_INPUTS not in signature.inputs:
        raise invalid(f"No classification inputs found in SignatureDef: {_debug_string(signature)}")
    if CLASSIFY_CLASSES not in signature.outputs and CLASSIFY_SCORES not in signature.outputs:
        raise invalid('Expected classification signature outputs to contain at least one of "classes" or "scores". '
                      f"Signature was: {_debug_string(signature)}")
    return key, {CLASSIFY_INPUTS: serialized_examples(input_proto)}


def _checked_matrix(tensor: np.ndarray, what: str, dtype: str, count: int) -> None:
    if tensor.ndim != 2:
        raise invalid(f"Expected Tensor shape: [batch_size num_classes] but got {_shape(tensor.shape)}")
    if _array_dtype_name(tensor) != dtype:
        raise invalid(f"Expected {what} Tensor of {dtype}. Got: {_array_dtype_name(tensor)}")
    if tensor.shape[0] != count:
        raise invalid(f"Expected {what} output batch size of {count}. Got: {tensor.shape[0]}")


def classify_result(outputs: dict[str, np.ndarray], count: int) -> tuple[list[list[str]], list[list[float]]]:
    """PostProcessClassificationResult: (labels, scores) per example; a missing output leaves its
    field empty ("" / 0.0), as in TF Serving."""
    classes, scores = outputs.get(CLASSIFY_CLASSES), outputs.get(CLASSIFY_SCORES)
    if classes is not None:
        _checked_matrix(classes, "classes", "DT_STRING", count)
    if scores is not None:
        _checked_matrix(scores, "scores", "DT_FLOAT", count)
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid(f"Tensors class and score should match in dim_size(1). Got {classes.shape[1]} vs. {scores.shape[1]}")
    reference = classes if classes is not None else scores
    width = reference.shape[1] if reference is not None else 0
    labels = [[c.decode() if isinstance(c, bytes) else str(c) for c in row] for row in classes] if classes is not None \
        else [[""] * width for _ in range(count)]
    values = scores.astype(float).tolist() if scores is not None else [[0.0] * width for _ in range(count)]
    return labels, values


def regress_inputs(servable: Servable, signature_name: str, input_proto: Any) -> tuple[str, dict[str, np.ndarray]]:
    """PreProcessRegression: one input named "inputs", one output named "outputs"."""
    key, signature = _named_signature(servable, signature_name)
    if len(signature.inputs) != 1:
        raise invalid("Expected one input Tensor.")
    if len(signature.outputs) != 1:
        raise invalid("Expected one output Tensor.")
    if REGRESS_INPUTS not in signature.inputs:
        raise invalid(f"No regression inputs found in SignatureDef: {_debug_string(signature)}")
    if REGRESS_OUTPUTS not in signature.outputs:
        raise invalid(f"No regression outputs found in SignatureDef: {_debug_string(signature)}")
    return key, {REGRESS_INPUTS: serialized_examples(input_proto)}


def regress_result(outputs: dict[str, np.ndarray], count: int) -> list[float]:
    """PostProcessRegressionResult."""
    values = outputs[REGRESS_OUTPUTS]
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise invalid("Expected output Tensor shape to be either [batch_size] or [batch_size, 1] but got "
                      f"{_shape(values.shape)}")
    if values.shape[0] != count:
        raise invalid(f"Input batch size did not match output batch size: {count} vs. {values.shape[0]}")
    if _array_dtype_name(values) != "DT_FLOAT":
        raise invalid(f"Expected output Tensor of DT_FLOAT.  Got: {_array_dtype_name(values)}")
    return values.reshape(-1).astype(float).tolist()


def classify_arrays(servable: Servable, signature: str, input_proto: Any, run: Run) -> Any:
    key, inputs = classify_inputs(servable, signature, input_proto)
    return classify_result(run(key, inputs), len(inputs[CLASSIFY_INPUTS]))


def regress_arrays(servable: Servable, signature: str, input_proto: Any, run: Run) -> Any:
    key, inputs = regress_inputs(servable, signature, input_proto)
    return regress_result(run(key, inputs), len(inputs[REGRESS_INPUTS]))
