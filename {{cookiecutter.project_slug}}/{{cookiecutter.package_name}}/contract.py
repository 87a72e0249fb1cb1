"""What every stage shares about the served model, in one place:

- the serving signature: its name and its inputs and output, derived from the schema;
- where published versions live (`models/<name>/<int>/`) and how to list them;
- how a client asks a server (TF Serving or the embedded one) which versions are AVAILABLE;
- predict requests built from feature rows: row-format JSON for REST, PredictRequest for gRPC;
- how clients reach a secured server: the CA and API key from the environment (or .env).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tfserving_loadtest import canary_policy, versions
from tfserving_loadtest.access import Access
from tfserving_stack.rollout import STATUS_REQUEST

from . import settings
from .data.schema import CATEGORICAL, DENSE, Features, Schema

if TYPE_CHECKING:
    from tensorflow_serving.apis.predict_pb2 import PredictRequest

SIGNATURE = "serving_default"
# The SignatureDef method name of TF Serving's Predict API (signature_constants.PREDICT_METHOD_NAME).
PREDICT_METHOD = "tensorflow/serving/predict"
OUTPUT = "probability"
# State names of a servable version in the status API (ModelVersionStatus.State): serving, and
# done (unloaded, or failed to load: then its status carries the error).
AVAILABLE, END = versions.AVAILABLE, versions.END
# Version labels of a canary rollout (the toolkit's canary_policy): clients that name `stable` get the
# promoted version, `canary` the candidate under evaluation.
STABLE, CANARY = canary_policy.STABLE, canary_policy.CANARY
# The signature's dtypes as the metadata API names them (tensorflow.DataType).
DATA_TYPES = {"float32": "DT_FLOAT", "string": "DT_STRING"}


def signature_spec(schema: Schema) -> dict[str, Any]:
    """`serving_default` as TensorFlow describes it: input and output names, dtypes and shapes."""
    return {
        "inputs": {
            DENSE: {"dtype": "float32", "shape": [None, len(schema.dense)]},
            CATEGORICAL: {"dtype": "string", "shape": [None, len(schema.categorical)]},
        },
        "outputs": {OUTPUT: {"dtype": "float32", "shape": [None]}},
    }


# --- published versions, and asking a server about them: the toolkit's (tfserving_loadtest.versions),
# with this project's client access by default ----------------------------------------------------

parse_version, published_versions = versions.parse_version, versions.published
status_entries, available_versions = versions.status_entries, versions.available


def version_states(rest_url: str, model_name: str, access: Access | None = None,
                   timeout: float = 5) -> dict[int, dict[str, Any]]:
    """Version -> its status entry, from GET /v1/models/<model> (versions.states)."""
    return versions.states(rest_url, model_name, access or client_access(), timeout)


def is_available(rest_url: str, model_name: str, version: int | None = None, access: Access | None = None) -> bool:
    """Whether the server serves `version` (any version when None) of the model now."""
    return versions.is_available(rest_url, model_name, version, access or client_access())


# --- requests -----------------------------------------------------------------------------------

def rest_predict_body(features: Features) -> bytes:
    """Row-format predict body: {"instances": [{"dense": [...], "categorical": [...]}, ...]}.

    Dense values are written with 6 decimals: bodies stay short, and float32 keeps about 7 digits."""
    dense = np.round(np.asarray(features.dense, dtype=np.float64), 6).tolist()
    instances = [{DENSE: d, CATEGORICAL: c} for d, c in zip(dense, features.categorical.astype(str).tolist())]
    return json.dumps({"instances": instances}, separators=(",", ":")).encode()


def grpc_predict_request(model_name: str, features: Features) -> PredictRequest:
    """A PredictRequest for `serving_default` with no version: the newest AVAILABLE one answers."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = SIGNATURE
    request.inputs[DENSE].CopyFrom(tf.make_tensor_proto(features.dense, dtype=tf.float32))
    request.inputs[CATEGORICAL].CopyFrom(tf.make_tensor_proto(features.categorical.astype(object), dtype=tf.string))
    return request


# --- readiness ----------------------------------------------------------------------------------

# TF Serving answers 200 in every version state, so readiness reads AVAILABLE in the body of the
# status request the stack's rollout also sends inside a container (tfserving_stack.rollout).
# Compose's healthcheck and the Kubernetes probes carry READINESS_PROBE as it is, with ${MODEL_NAME}
# (their tests compare).
READINESS_PROBE = STATUS_REQUEST + " && grep -q AVAILABLE <&3"


# --- metric names -------------------------------------------------------------------------------

# Series Prometheus makes itself (`up`, the alert states) or that its own and the client libraries'
# process collectors export; rules and dashboards may read them beside the exporters' own.
STANDARD_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE", "process_cpu_seconds_total",
                             "process_resident_memory_bytes"})
DCGM_COUNTERS = Path(__file__).resolve().parent.parent / "compose" / "dcgm-counters.csv"


def _series(family_name: str, kind: str, counter_suffix: str) -> set[str]:
    if kind == "histogram":
        return {f"{family_name}_bucket", f"{family_name}_sum", f"{family_name}_count"}
    return {family_name + (counter_suffix if kind == "counter" else "")}


def exposed_series() -> frozenset[str]:
    """Every series name the stack's exporters expose, read from their own definitions: TF Serving's
    (the embedded server's registry, in TF Serving's exposition: no `_total`), the load generator's
    (the toolkit's exporter, prometheus_client's exposition), the DCGM exporter's
    (compose/dcgm-counters.csv), and STANDARD_SERIES. The rules, dashboards and the k8s adapter are
    checked against it (tests/stack/test_metric_names.py)."""
    from embedded_tfserving.metrics import ServingMetrics
    from tfserving_loadtest import metrics as loadtest_metrics

    names = set(STANDARD_SERIES)
    for family in ServingMetrics().registry.collect():
        names |= _series(family.name, family.type, "")
    for family in loadtest_metrics.REGISTRY.collect():
        names |= _series(family.name, family.type, "_total")
    fields = (line.split(",")[0].strip() for line in DCGM_COUNTERS.read_text().splitlines())
    names |= {field for field in fields if field and not field.startswith("#")}
    return frozenset(names)


# --- access to a secured server -----------------------------------------------------------------

def client_access() -> Access:
    """How this project's clients reach the server: SERVING_CA_FILE, SERVING_API_KEY or
    SERVING_API_KEY_FILE, from the environment, else from .env (the toolkit's Access reads them),
    from one reading of the settings rather than one per key."""
    return Access.from_environment(settings.environment().get)

