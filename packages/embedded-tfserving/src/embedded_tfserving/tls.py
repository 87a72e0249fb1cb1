"""TLS for the two APIs.

gRPC: TF Serving's `--ssl_config_file` (an SSLConfig text proto holding the PEMs themselves), or
our `--ssl_cert_file`/`--ssl_key_file`. REST: `--ssl_cert_file`/`--ssl_key_file` (TF Serving's REST
API has no TLS of its own; it is usually put behind a proxy).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from .config import parse_ssl_config
from .errors import ConfigError


@dataclass(frozen=True)
class ServerTls:
    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None
    client_verify: bool = False


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
