"""Where a load test's requests come from, for any model TF Serving serves:

- `hook:MODULE`: a Python module of the project's with `rest_bodies(model_name, rows, pool, seed)`
  (predict bodies, JSON bytes) and `grpc_requests(model_name, rows, pool, seed)` (PredictRequests);
- `warmup:PATH`: the model's own warmup records (a SavedModel version folder, or its
  `assets.extra/tf_serving_warmup_requests` file): their PredictRequests;
- `json:FILE` (or a path ending in .json): one predict body in TF Serving's REST format, or a list of
  them.

Either protocol can be sent from any source: a REST body becomes a PredictRequest the way the server
reads it (the signature's dtypes from the model's metadata), a PredictRequest becomes a columnar REST
body. Pools are built once per load-generator process; the hot path only picks one.
"""

from __future__ import annotations

import base64
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from . import access
from .errors import LoadTestError

if TYPE_CHECKING:  # TensorFlow and the HTTP client load with the sources that use them (--help needs neither)
    import numpy as np
    from tensorflow_serving.apis.predict_pb2 import PredictRequest

FORMS = ("hook:MODULE (rest_bodies and grpc_requests functions), warmup:PATH (a SavedModel version folder or its "
         "warmup records file) or json:FILE (a predict body in TF Serving's REST format, or a list of them)")
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
DEFAULT_SIGNATURE = "serving_default"


class Source(Protocol):
    def rest_bodies(self, model_name: str, rows: int, pool: int, seed: int) -> list[bytes]: ...

    def grpc_requests(self, model_name: str, rows: int, pool: int, seed: int, rest_url: str = "") -> list[PredictRequest]: ...


def parse(spec: str) -> Source:
    """The source a --requests value names; LoadTestError naming the forms when it names none."""
    kind, _, location = spec.partition(":")
    if kind == "hook" and location:
        return Hook(location)
    if kind == "warmup" and location:
        return Warmup(Path(location))
    if kind == "json" and location:
        return JsonFile(Path(location))
    if spec.endswith(".json"):
        return JsonFile(Path(spec))
    raise LoadTestError(f"--requests {spec!r} names no request source: give {FORMS}")


def _check_files_rows(rows: int, what: str) -> None:
    if rows != 1:
        raise LoadTestError(f"--rows {rows}: {what} holds its own rows; --rows applies to a payload hook")


@dataclass(frozen=True)
class Hook:
    """The project's own request builder (e.g. from its schema and a synthetic generator)."""

    module: str

    def _function(self, name: str) -> Any:
        try:
            module = importlib.import_module(self.module)
        except ImportError as error:
            raise LoadTestError(f"payload hook {self.module!r} cannot be imported ({error}); run from the project's "
                                "root or put it on PYTHONPATH") from None
        function = getattr(module, name, None)
        if not callable(function):
            raise LoadTestError(f"payload hook {self.module!r} has no function {name}(model_name, rows, pool, seed)")
        return function

    def rest_bodies(self, model_name: str, rows: int, pool: int, seed: int) -> list[bytes]:
        return list(self._function("rest_bodies")(model_name, rows, pool, seed))

    def grpc_requests(self, model_name: str, rows: int, pool: int, seed: int, rest_url: str = "") -> list[PredictRequest]:
        return list(self._function("grpc_requests")(model_name, rows, pool, seed))


@dataclass(frozen=True)
class JsonFile:
    """Predict bodies in TF Serving's REST format, read from a file."""

    path: Path

    def documents(self) -> list[dict[str, Any]]:
        try:
            loaded = json.loads(self.path.read_text())
        except OSError as error:
            raise LoadTestError(f"request file {self.path} cannot be read: {error.strerror}") from None
        except json.JSONDecodeError as error:
            raise LoadTestError(f"request file {self.path} is not JSON: {error}") from None
        documents = loaded if isinstance(loaded, list) else [loaded]
        for number, document in enumerate(documents):
            if not isinstance(document, dict) or not ({"instances", "inputs"} & set(document)):
                raise LoadTestError(f"request {number} of {self.path} is not a predict body: TF Serving's REST "
                                    'format is {"instances": [...]} or {"inputs": ...}')
        if not documents:
            raise LoadTestError(f"request file {self.path} holds no request")
        return documents

    def rest_bodies(self, model_name: str, rows: int, pool: int, seed: int) -> list[bytes]:
        _check_files_rows(rows, f"request file {self.path}")
        return [json.dumps(document).encode() for document in self.documents()]

    def grpc_requests(self, model_name: str, rows: int, pool: int, seed: int, rest_url: str = "") -> list[PredictRequest]:
        _check_files_rows(rows, f"request file {self.path}")
        signatures = signature_inputs(rest_url, model_name)
        return [rest_to_grpc(document, model_name, signatures) for document in self.documents()]


@dataclass(frozen=True)
class Warmup:
    """The PredictRequests among a SavedModel's warmup records (TF Serving replays them at load)."""

    path: Path

    def requests(self, model_name: str) -> list[PredictRequest]:
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_log_pb2

        path = self.path / WARMUP_FILE if self.path.is_dir() else self.path
        if not path.is_file():
            raise LoadTestError(f"no warmup records at {path}: give a SavedModel version folder that has "
                                f"{WARMUP_FILE}, or the records file itself")
        found = []
        try:
            for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
                log = prediction_log_pb2.PredictionLog.FromString(record)
                if log.WhichOneof("log_type") == "predict_log":
                    request = log.predict_log.request
                    request.model_spec.name = model_name
                    request.model_spec.ClearField("version")  # the newest AVAILABLE version serves
                    found.append(request)
        except (tf.errors.OpError, ValueError) as error:
            raise LoadTestError(f"{path} is not a file of TFRecord PredictionLogs: {error}") from None
        if not found:
            raise LoadTestError(f"{path} holds no predict request (classify and regress records are not sent)")
        return found

    def rest_bodies(self, model_name: str, rows: int, pool: int, seed: int) -> list[bytes]:
        _check_files_rows(rows, f"the warmup file under {self.path}")
        return [grpc_to_rest(request) for request in self.requests(model_name)]

    def grpc_requests(self, model_name: str, rows: int, pool: int, seed: int, rest_url: str = "") -> list[PredictRequest]:
        _check_files_rows(rows, f"the warmup file under {self.path}")
        return self.requests(model_name)


def signature_inputs(rest_url: str, model_name: str) -> dict[str, dict[str, str]]:
    """Signature name -> {input name: DataType name} from the model's metadata (GET .../metadata)."""
    import requests

    if not rest_url:
        raise LoadTestError("gRPC requests from a JSON file need the model's signature: give the REST --host too")
    client = access.current()
    url = f"{rest_url}/v1/models/{model_name}/metadata"
    try:
        reply = requests.get(url, timeout=10, headers=client.headers(), verify=client.verify)
    except requests.RequestException as error:
        raise LoadTestError(f"the model's metadata is not reachable at {url} ({type(error).__name__})") from None
    if not reply.ok:
        raise LoadTestError(f"the model's metadata at {url} answered HTTP {reply.status_code}: {reply.text[:200]}")
    signatures = reply.json().get("metadata", {}).get("signature_def", {}).get("signature_def", {})
    return {name: {alias: info.get("dtype", "") for alias, info in signature.get("inputs", {}).items()}
            for name, signature in signatures.items()}


def rest_to_grpc(document: dict[str, Any], model_name: str, signatures: dict[str, dict[str, str]]) -> PredictRequest:
    """The PredictRequest a REST predict body means: read by the embedded server's own parser of
    TF Serving's REST format, with the signature's dtypes."""
    import tensorflow as tf
    from embedded_tfserving.errors import ServingError
    from embedded_tfserving.rest_requests import parse_body, predict_request_tensors
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis.predict_pb2 import PredictRequest

    name = document.get("signature_name") or DEFAULT_SIGNATURE
    if name not in signatures:
        raise LoadTestError(f"model {model_name!r} has no signature {name!r} (it has {sorted(signatures)})")
    try:
        arrays, _ = predict_request_tensors(parse_body(json.dumps(document).encode()), signatures[name])
    except ServingError as error:
        raise LoadTestError(f"a request of the file does not fit signature {name!r}: {error}") from None
    request = PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = name
    for alias, array in arrays.items():
        dtype = tf.dtypes.as_dtype(types_pb2.DataType.Value(signatures[name][alias]))
        request.inputs[alias].CopyFrom(tf.make_tensor_proto(array, dtype=dtype))
    return request


def grpc_to_rest(request: PredictRequest) -> bytes:
    """A columnar REST body with the same tensors (strings as UTF-8 text, else as {"b64": ...})."""
    import tensorflow as tf

    inputs = {alias: _json_value(tf.make_ndarray(proto)) for alias, proto in request.inputs.items()}
    document: dict[str, Any] = {"inputs": inputs}
    if request.model_spec.signature_name:
        document["signature_name"] = request.model_spec.signature_name
    return json.dumps(document).encode()


def _json_value(array: np.ndarray) -> Any:
    if array.dtype.kind in "OS":
        return _strings(array.tolist())
    return array.tolist()


def _strings(value: Any) -> Any:
    if isinstance(value, list):
        return [_strings(item) for item in value]
    try:
        return value.decode()
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode()}
