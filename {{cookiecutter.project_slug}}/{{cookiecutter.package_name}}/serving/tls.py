"""TLS for the two APIs.

gRPC: TF Serving's `--ssl_config_file` (an SSLConfig text proto holding the PEMs themselves), or
our `--ssl_cert_file`/`--ssl_key_file`. REST: `--ssl_cert_file`/`--ssl_key_file` (TF Serving's REST
API has no TLS of its own; it is usually put behind a proxy, see compose/README.md).
SSLConfig does not ship in tensorflow-serving-api: its message type is built from a small
descriptor with TF Serving's field numbers (tensorflow_serving/config/ssl_config.proto).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from .config import ConfigError


def _ssl_config_class() -> type[Message]:
    field = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="embedded_server/ssl_config.proto",
                                              package="tensorflow.serving", syntax="proto3")
    file.message_type.add(name="SSLConfig", field=[
        field(name="server_key", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL),
        field(name="server_cert", number=2, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL),
        field(name="custom_ca", number=3, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL),
        field(name="client_verify", number=4, type=field.TYPE_BOOL, label=field.LABEL_OPTIONAL),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return GetMessageClass(pool.FindMessageTypeByName("tensorflow.serving.SSLConfig"))


SSLConfig = _ssl_config_class()


@dataclass(frozen=True)
class ServerTls:
    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None
    client_verify: bool = False


def parse_ssl_config(text: str, source: str = "<ssl config>") -> Any:
    config = SSLConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as error:
        raise ConfigError(f"{source}: cannot parse SSLConfig text proto at line {error}") from None
    if not config.server_key or not config.server_cert:
        raise ConfigError(f"{source}: SSLConfig needs both server_key and server_cert (PEM text)")
    if config.client_verify and not config.custom_ca:
        raise ConfigError(f"{source}: client_verify needs custom_ca (the CA that signs client certificates)")
    return config


def grpc_tls(flags: Any) -> ServerTls | None:
    """TLS settings for gRPC: --ssl_config_file first (as TF Serving), else the PEM files."""
    if flags.ssl_config_file:
        path = Path(flags.ssl_config_file)
        config = parse_ssl_config(path.read_text(), str(path))
        return ServerTls(config.server_cert.encode(), config.server_key.encode(),
                         config.custom_ca.encode() or None, config.client_verify)
    if flags.ssl_cert_file:
        return ServerTls(Path(flags.ssl_cert_file).read_bytes(), Path(flags.ssl_key_file).read_bytes())
    return None


def grpc_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(tls.private_key, tls.cert_chain)], root_certificates=tls.client_ca,
                                       require_client_auth=tls.client_verify)


def rest_ssl_context(flags: Any) -> ssl.SSLContext | None:
    if not flags.ssl_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(flags.ssl_cert_file, flags.ssl_key_file)
    except (ssl.SSLError, OSError) as error:
        raise ConfigError(f"cannot use --ssl_cert_file={flags.ssl_cert_file} with --ssl_key_file="
                          f"{flags.ssl_key_file}: {error}") from None
    return context
