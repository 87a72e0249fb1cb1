"""tensorflow_model_server's command-line flags, with its syntax and defaults.

`--name=value` (or `--name value`); booleans as `--name`, `--name=true` or `--name=false`.
Flags TF Serving has but this server does not implement are rejected by name rather than ignored,
and so is anything unknown. Extensions (ours): `--base_path_map=/models=models` (repeatable) maps a
path prefix used in config files to a local folder, so a config written for the container serves
here unchanged; `--bind_address`; and the hardening flags (TLS files, API keys, request limits and
read timeouts), all off or permissive by default.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import NoReturn

from .errors import FlagError

# TF Serving flags that change behaviour this server does not have: refuse them instead of pretending.
UNSUPPORTED = (
    "grpc_socket_path", "platform_config_file", "per_process_gpu_memory_fraction",
    "grpc_channel_arguments", "enable_signature_method_name_check", "xla_cpu_compilation_enabled",
    "saved_model_tags", "remove_unused_fields_from_bundle_metagraph", "prefer_tflite_model",
    "use_tflite_model", "tensorflow_session_config_file", "mixed_precision", "thread_pool_factory_config_file",
    "enable_profiler", "allow_version_labels_for_unavailable_models_DO_NOT_USE",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse would exit; callers decide instead
        raise FlagError(message)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _path_map(text: str) -> tuple[str, str]:
    prefix, sep, local = text.partition("=")
    if not sep or not prefix or not local:
        raise argparse.ArgumentTypeError(f"expected PREFIX=LOCAL_FOLDER, got {text!r}")
    return prefix.rstrip("/") or "/", local


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="embedded_tfserving", allow_abbrev=False,
                     description="TensorFlow Serving-compatible model server (tensorflow_model_server flags).")
    add = parser.add_argument

    def flag(name: str, default: bool, text: str) -> None:
        add(f"--{name}", type=_bool, nargs="?", const=True, default=default, metavar="true|false", help=text)

    add("--port", type=int, default=8500, help="gRPC port")
    add("--rest_api_port", type=int, default=0, help="REST port; 0 disables the REST API (as in TF Serving)")
    add("--rest_api_num_threads", type=int, default=4 * (os.cpu_count() or 1),
        help="threads running REST requests that wait for inference")
    add("--rest_api_timeout_in_ms", type=int, default=30000, help="REST request deadline (504 past it)")
    add("--grpc_max_threads", type=int, default=0, help="accepted for compatibility (asyncio serves gRPC)")
    add("--model_name", default="default")
    add("--model_base_path", default="")
    add("--model_config_file", default="")
    add("--model_config_file_poll_wait_seconds", type=int, default=0)
    add("--file_system_poll_wait_seconds", type=int, default=1)
    add("--max_num_load_retries", type=int, default=5)
    add("--load_retry_interval_micros", type=int, default=60 * 1000 * 1000)
    flag("enable_batching", False, "batch requests per model version and signature")
    add("--batching_parameters_file", default="")
    flag("enable_model_warmup", True, "replay assets.extra/tf_serving_warmup_requests before serving")
    add("--monitoring_config_file", default="")
    add("--tensorflow_intra_op_parallelism", type=int, default=0,
        help="threads that run one op (0: auto, one per core); see session_threads()")
    add("--tensorflow_inter_op_parallelism", type=int, default=0, help="ops run at once (0: auto)")
    add("--tensorflow_session_parallelism", type=int, default=0,
        help="both of the above, when neither is set (0: auto)")
    flag("allow_version_labels_for_unavailable_models", False, "allow labels on versions not yet AVAILABLE")
    flag("flush_filesystem_caches", True, "accepted for compatibility")
    add("--num_load_threads", type=int, default=0)
    add("--num_unload_threads", type=int, default=0)
    add("--bind_address", default="127.0.0.1",
        help="(extension) address to listen on; TF Serving listens on all interfaces (0.0.0.0)")
    add("--base_path_map", type=_path_map, action="append", default=[], metavar="PREFIX=LOCAL",
        help="(extension) serve config base paths under PREFIX from LOCAL instead; repeatable")
    # Access control and limits (see auth.py, tls.py, limits.py). `--ssl_config_file` is TF Serving's.
    add("--ssl_config_file", default="", help="SSLConfig text proto (inline PEMs): TLS for gRPC, as TF Serving")
    add("--ssl_cert_file", default="", help="(extension) PEM certificate chain: TLS for REST and gRPC")
    add("--ssl_key_file", default="", help="(extension) PEM private key of --ssl_cert_file")
    add("--api_keys_file", default="",
        help="(extension) one API key per line; requests must send one (Authorization: Bearer or X-API-Key)")
    flag("protect_metrics", False, "(extension) with --api_keys_file, also require a key for the metrics page")
    add("--max_request_bytes", type=int, default=16 << 20,
        help="(extension) largest REST body / gRPC message accepted (413 / RESOURCE_EXHAUSTED past it)")
    add("--rest_header_timeout_seconds", type=float, default=30.0,
        help="(extension) close a connection that sends no complete request headers for this long")
    add("--rest_body_timeout_seconds", type=float, default=30.0,
        help="(extension) answer 408 when a request body takes longer than this to arrive")
    for name in UNSUPPORTED:
        add(f"--{name}", default=None, help=argparse.SUPPRESS)
    return parser


def parse_flags(argv: list[str]) -> argparse.Namespace:
    """Parse and cross-check flags; FlagError names the offending flag."""
    flags = build_parser().parse_args(argv)
    for name in UNSUPPORTED:
        if getattr(flags, name) is not None:
            raise FlagError(f"--{name} is a tensorflow_model_server flag this server does not support")
    if flags.batching_parameters_file and not flags.enable_batching:
        raise FlagError("--batching_parameters_file is set without setting --enable_batching to true")
    if not flags.model_config_file and not flags.model_base_path:
        raise FlagError("Both server_options.model_base_path and server_options.model_config_file are empty!")
    if min(flags.tensorflow_intra_op_parallelism, flags.tensorflow_inter_op_parallelism,
           flags.tensorflow_session_parallelism) > 0:
        raise FlagError("Either configure server_options.tensorflow_session_parallelism or "
                        "(server_options.tensorflow_intra_op_parallelism, server_options.tensorflow_inter_op_parallelism) "
                        "separately. You cannot configure all.")
    for name in ("ssl_config_file", "ssl_cert_file", "ssl_key_file", "api_keys_file"):
        value = getattr(flags, name)
        if value and not Path(value).is_file():  # fail before loading models, naming the flag
            raise FlagError(f"--{name}={value}: no such file")
    if bool(flags.ssl_cert_file) != bool(flags.ssl_key_file):
        raise FlagError("--ssl_cert_file and --ssl_key_file must be given together")
    if flags.protect_metrics and not flags.api_keys_file:
        raise FlagError("--protect_metrics needs --api_keys_file")
    if flags.max_request_bytes < 1024:
        raise FlagError(f"--max_request_bytes={flags.max_request_bytes} is below 1024")
    for value, name in ((flags.port, "port"), (flags.rest_api_port, "rest_api_port")):
        if not 0 <= value < 65536:
            raise FlagError(f"--{name}={value} is not a TCP port")
    return flags


def session_threads(flags: argparse.Namespace) -> tuple[int, int]:
    """(intra-op, inter-op) threads of every model's Session, as TF Serving's server.cc sets them: the
    two specific flags when either is set (the other one 0, auto), else --tensorflow_session_parallelism
    for both; 0 lets TensorFlow use one thread per core."""
    intra, inter = flags.tensorflow_intra_op_parallelism, flags.tensorflow_inter_op_parallelism
    if intra > 0 or inter > 0:
        return intra, inter
    return flags.tensorflow_session_parallelism, flags.tensorflow_session_parallelism


def map_base_path(path: str, mappings: list[tuple[str, str]]) -> Path:
    """A config base path with the longest matching --base_path_map prefix replaced by its folder."""
    for prefix, local in sorted(mappings, key=lambda m: len(m[0]), reverse=True):
        if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
            return Path(local) / path[len(prefix):].lstrip("/")
    return Path(path)
