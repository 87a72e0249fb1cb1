"""TF Serving's text-proto config files: ModelServerConfig, BatchingParameters, MonitoringConfig
and SSLConfig.

ModelServerConfig ships in tensorflow-serving-api. The other three do not, so their message types
are built here from a small descriptor with TF Serving's field numbers (session_bundle_config.proto,
monitoring_config.proto, ssl_config.proto) and parsed with the same text_format parser, which
makes the files interchangeable with TF Serving's.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool, text_format, wrappers_pb2
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from tensorflow_serving.config import model_server_config_pb2

from .errors import ConfigError

FieldProto = descriptor_pb2.FieldDescriptorProto
DEFAULT_PROMETHEUS_PATH = "/monitoring/prometheus/metrics"


def _field(name: str, number: int, kind: int, type_name: str = "", repeated: bool = False) -> FieldProto:
    label = FieldProto.LABEL_REPEATED if repeated else FieldProto.LABEL_OPTIONAL
    field = FieldProto(name=name, number=number, type=kind, label=label)  # type: ignore[arg-type]
    if type_name:  # an empty type_name still counts as set
        field.type_name = type_name
    return field


def _build_messages() -> dict[str, type[Message]]:
    msg = FieldProto.TYPE_MESSAGE
    i64, s, b = ".google.protobuf.Int64Value", ".google.protobuf.StringValue", ".google.protobuf.BoolValue"
    string, boolean = FieldProto.TYPE_STRING, FieldProto.TYPE_BOOL
    file = descriptor_pb2.FileDescriptorProto(
        name="embedded_tfserving/serving_configs.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    file.message_type.add(name="BatchingParameters", field=[
        _field("max_batch_size", 1, msg, i64), _field("batch_timeout_micros", 2, msg, i64),
        _field("max_enqueued_batches", 3, msg, i64), _field("num_batch_threads", 4, msg, i64),
        _field("thread_pool_name", 5, msg, s), _field("allowed_batch_sizes", 6, FieldProto.TYPE_INT64, repeated=True),
        _field("pad_variable_length_inputs", 7, boolean),
        _field("enable_large_batch_splitting", 8, msg, b), _field("max_execution_batch_size", 9, msg, i64),
    ])
    file.message_type.add(name="PrometheusConfig", field=[_field("enable", 1, boolean), _field("path", 2, string)])
    file.message_type.add(name="MonitoringConfig", field=[
        _field("prometheus_config", 1, msg, ".tensorflow.serving.PrometheusConfig")])
    file.message_type.add(name="SSLConfig", field=[
        _field("server_key", 1, string), _field("server_cert", 2, string), _field("custom_ca", 3, string),
        _field("client_verify", 4, boolean)])
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(descriptor_pb2.FileDescriptorProto.FromString(
        wrappers_pb2.DESCRIPTOR.serialized_pb).SerializeToString())
    pool.Add(file)
    return {name: GetMessageClass(pool.FindMessageTypeByName(f"tensorflow.serving.{name}"))
            for name in ("BatchingParameters", "PrometheusConfig", "MonitoringConfig", "SSLConfig")}


# Message classes made at run time: their fields are unknown to type checkers, hence Any.
_MESSAGES = _build_messages()
BatchingParameters: Any = _MESSAGES["BatchingParameters"]
MonitoringConfig: Any = _MESSAGES["MonitoringConfig"]
SSLConfig: Any = _MESSAGES["SSLConfig"]
M = TypeVar("M", bound=Message)


def _parse(text: str, message: M, source: str) -> M:
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as error:
        # protobuf's own wording, which TF Serving logs for a config it cannot read
        raise ConfigError(f"{source}: Error parsing text-format {message.DESCRIPTOR.full_name}: {error}") from None
    return message


def _read(path: Path, message: M, what: str) -> M:
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {what} file {path}: {error.strerror}") from None
    return _parse(text, message, str(path))


def read_model_server_config(path: Path) -> model_server_config_pb2.ModelServerConfig:
    config = _read(path, model_server_config_pb2.ModelServerConfig(), "--model_config_file")
    if config.WhichOneof("config") != "model_config_list":
        raise ConfigError(f"{path}: only model_config_list is supported (custom_model_config is not)")
    return config


def parse_batching_parameters(text: str, source: str = "<batching parameters>") -> Any:
    return validate_batching_parameters(_parse(text, BatchingParameters(), source), source)


def read_batching_parameters(path: Path) -> Any:
    return validate_batching_parameters(_read(path, BatchingParameters(), "--batching_parameters_file"), str(path))


def validate_batching_parameters(params: Any, source: str) -> Any:
    """TF Serving's load-time checks (batching_util / shared_batch_scheduler), same messages."""
    max_batch = params.max_batch_size.value if params.HasField("max_batch_size") else 1000
    sizes = list(params.allowed_batch_sizes)
    if sizes:
        if any(b <= a for a, b in itertools.pairwise(sizes)):
            raise ConfigError(f"{source}: allowed_batch_sizes entries must be monotonically increasing")
        if sizes[-1] != max_batch:
            raise ConfigError(f"{source}: Last entry in allowed_batch_sizes must match max_batch_size; "
                              f"last entry was {sizes[-1]}; expected {max_batch}")
    for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
        if params.HasField(name) and getattr(params, name).value <= 0:
            raise ConfigError(f"{source}: {name} must be positive")
    return params


def parse_monitoring_config(text: str, source: str = "<monitoring config>") -> Any:
    return _parse(text, MonitoringConfig(), source)


def read_monitoring_config(path: Path) -> Any:
    return _read(path, MonitoringConfig(), "--monitoring_config_file")


def parse_ssl_config(text: str, source: str = "<ssl config>") -> Any:
    config = _parse(text, SSLConfig(), source)
    if not config.server_key or not config.server_cert:
        raise ConfigError(f"{source}: SSLConfig needs both server_key and server_cert (PEM text)")
    if config.client_verify and not config.custom_ca:
        raise ConfigError(f"{source}: client_verify needs custom_ca (the CA that signs client certificates)")
    return config
