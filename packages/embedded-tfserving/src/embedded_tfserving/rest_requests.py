"""REST request bodies as TF Serving reads them: the JSON document, row ("instances") and
columnar ("inputs") predict requests, and tf.Example lists for classify and regress."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from .errors import ServingError, invalid
from .json_messages import as_rapidjson_number, json_type, json_value_string, parse_document
from .json_tensors import decode_base64, fast, is_base64_object, json_to_array, utf8, walk


class JsonDocument(dict[str, Any]):
    """A request's top-level JSON object; `literals`: whether true/false may occur in it (numpy
    reads them as 1/0 among numbers, which TF Serving refuses, so the fast path must look)."""

    literals = True


def parse_body(body: bytes) -> dict[str, Any]:
    """The request's top-level JSON object, read as TF Serving's rapidjson reads it (NaN and
    Infinity allowed, anything after the root value ignored)."""
    if not body:
        raise invalid("JSON Parse error: The document is empty")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = parse_document(body)
    if not isinstance(doc, dict):
        raise invalid(f"JSON Value: {json_value_string(doc)} Is not object")
    document = JsonDocument(doc)
    document.literals = b"true" in body or b"false" in body  # one byte search instead of one per tensor
    return document


def signature_name(doc: dict[str, Any]) -> str:
    value = doc.get("signature_name", "")
    if not isinstance(value, str):
        raise invalid(f"JSON Value: {json_value_string(doc)} not formatted correctly. "
                      "'signature_name' key must be a string value.")
    return value


# --- predict ------------------------------------------------------------------------------------

def _one_instance(value: Any, name: str, dtype: str, seen: dict[str, tuple[int, tuple[int, ...]]]) -> np.ndarray:
    array = walk(value, dtype)
    size, shape = array.size, tuple(array.shape)
    if name not in seen:
        seen[name] = (size, shape)
    elif seen[name][0] != size:
        raise invalid(f"Expecting tensor size: {seen[name][0]} but got: {size}")
    elif seen[name][1] != shape:
        raise invalid(f"Expecting shape [{','.join(map(str, seen[name][1]))}] but got: [{','.join(map(str, shape))}]")
    return array


def _fast_instances(instances: list[Any], inputs: dict[str, str], objects: bool,
                    literals: bool) -> dict[str, np.ndarray] | None:
    if not objects:
        name = next(iter(inputs))
        array = fast(instances, inputs[name], literals)
        return None if array is None else {name: array}
    keys = set(inputs)
    if not all(isinstance(i, dict) and i.keys() == keys for i in instances):
        return None
    tensors = {}
    for name, dtype in inputs.items():
        array = fast([i[name] for i in instances], dtype, literals)
        if array is None:
            return None
        tensors[name] = array
    return tensors


def instances_to_tensors(instances: list[Any], inputs: dict[str, str], literals: bool = True) -> dict[str, np.ndarray]:
    """Row format: each element is one example (an object keyed by input name when several)."""
    first_is_object = isinstance(instances[0], dict) and not is_base64_object(instances[0])
    if not isinstance(instances[0], dict) and len(inputs) > 1:
        raise invalid("instances is a plain list, but expecting list of objects as multiple input tensors "
                      "required as per tensorinfo_map")
    converted = _fast_instances(instances, inputs, first_is_object, literals)
    if converted is not None:
        return converted
    names = sorted(inputs)
    rows: dict[str, list[np.ndarray]] = {}
    seen: dict[str, tuple[int, tuple[int, ...]]] = {}
    for index, element in enumerate(instances):
        if first_is_object:
            if not (isinstance(element, dict) and not is_base64_object(element)):
                raise invalid(f"Expecting object but got list at item {index} of input list")
            for key, value in element.items():
                try:
                    if key not in inputs:
                        raise invalid(f"JSON object: does not have named input: {key}")
                    rows.setdefault(key, []).append(_one_instance(value, key, inputs[key], seen))
                except ServingError as error:
                    raise invalid(f"Failed to process element: {index} key: {key} of 'instances' list. "
                                  f"Error: {error}") from None
            if set(element) != set(inputs):
                raise invalid(f"Failed to process element: {index} of 'instances' list. JSON object: "
                              f"{json_value_string(element)} keys must be equal to: {','.join(names)}")
        else:
            if isinstance(element, dict) and not is_base64_object(element):
                raise invalid(f"Expecting value/list but got object at item {index} of input list")
            name = names[0]
            try:
                rows.setdefault(name, []).append(_one_instance(element, name, inputs[name], seen))
            except ServingError as error:
                raise invalid(f"Failed to process element: {index} of 'instances' list. Error: {error}") from None
    return {name: np.stack(arrays) for name, arrays in rows.items()}


def inputs_to_tensors(value: Any, inputs: dict[str, str], literals: bool = True) -> dict[str, np.ndarray]:
    """Columnar format: a value/list for a single input, or an object input name -> tensor."""
    if not isinstance(value, dict) or is_base64_object(value):
        if len(inputs) > 1:
            raise invalid("inputs is a plain value/list, but expecting an object as multiple input tensors "
                          "required as per tensorinfo_map")
        name, dtype = next(iter(inputs.items()))
        return {name: json_to_array(value, dtype, literals)}
    tensors = {}
    for name in sorted(inputs):
        if name not in value:
            raise invalid(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = json_to_array(value[name], inputs[name], literals)
    return tensors


def predict_request_tensors(doc: dict[str, Any], inputs: dict[str, str]) -> tuple[dict[str, np.ndarray], str]:
    """(tensors, "row" | "columnar") from a predict body; `inputs` maps input name -> dtype."""
    if not inputs:
        raise invalid(f"Failed to get input map for signature: {doc.get('signature_name') or 'DEFAULT'}")
    literals = getattr(doc, "literals", True)
    if "instances" in doc:
        if "inputs" in doc:
            raise invalid(f"JSON Value: {json_value_string(doc)} Not formatted correctly expecting only one of "
                          "'inputs' or 'instances' keys to exist ")
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise invalid(f"JSON Value: {json_value_string(doc)} Expecting 'instances' to be an list/array")
        if not instances:
            raise invalid(f"JSON Value: {json_value_string(doc)} No values in 'instances' array")
        return instances_to_tensors(instances, inputs, literals), "row"
    if "inputs" in doc:
        return inputs_to_tensors(doc["inputs"], inputs, literals), "columnar"
    raise invalid("Missing 'inputs' or 'instances' key")


# --- classify / regress -------------------------------------------------------------------------

def _feature_kind_error(name: str, kind: str) -> ServingError:
    return invalid(f"Unexpected element type in feature: {name} expecting type: {kind}")


def _add_to_feature(value: Any, name: str, feature: dict[str, list[Any]]) -> None:
    """AddValueToFeature: ints and bools -> int64_list, other numbers -> float_list, strings and
    {"b64": ...} -> bytes_list; one kind per feature."""
    kind = next(iter(feature), None)
    if value is None or isinstance(value, list) or (isinstance(value, dict) and not is_base64_object(value)):
        raise invalid(f"Feature: {name} has element with unexpected JSON type: {json_type(value)}")
    if isinstance(value, int) and not isinstance(value, bool):
        value = as_rapidjson_number(value)
    if isinstance(value, int):  # bools too: TF Serving stores them in int64_list
        if kind not in (None, "int64"):
            raise _feature_kind_error(name, str(kind))
        if not isinstance(value, bool) and value > 2**63 - 1:
            raise invalid(f"Feature: {name} has uint64_t element. Only int64_t is supported.")
        feature.setdefault("int64", []).append(int(value))
    elif isinstance(value, float):
        if kind not in (None, "float"):
            raise _feature_kind_error(name, str(kind))
        feature.setdefault("float", []).append(value)
    else:
        if kind not in (None, "bytes"):
            raise _feature_kind_error(name, str(kind))
        feature.setdefault("bytes", []).append(decode_base64(value) if isinstance(value, dict) else utf8(value))


def example_from_json(value: Any) -> Any:
    """One JSON object as a tf.train.Example (ints/bools -> int64_list, decimals -> float_list, strings -> bytes_list)."""
    from tensorflow.core.example import example_pb2

    if not isinstance(value, dict):
        raise invalid(f"Example must be JSON object but got JSON {json_type(value)}")
    example = example_pb2.Example()
    for name, content in value.items():
        feature: dict[str, list[Any]] = {}
        for item in content if isinstance(content, list) else [content]:
            _add_to_feature(item, name, feature)
        proto = example.features.feature[name]
        for kind, values in feature.items():
            getattr(proto, f"{kind}_list").value.extend(values)
    return example


def classify_regress_examples(doc: dict[str, Any], method: str) -> tuple[list[Any], Any | None]:
    """(examples, context example or None) from a classify/regress body."""
    context = example_from_json(doc["context"]) if "context" in doc else None
    if "examples" not in doc:
        # TF Serving says "classify" for regress requests too
        raise invalid(f"JSON Value: {json_value_string(doc)} When method is classify, key 'examples' is expected "
                      "and was not found")
    examples = doc["examples"]
    if not isinstance(examples, list):
        raise invalid(f"JSON Value: {json_value_string(doc)} Expecting 'examples' value to be an list/array")
    if not examples:
        raise invalid(f"JSON Value: {json_value_string(doc)} 'examples' value is an empty array")
    return [example_from_json(e) for e in examples], context
