"""The model server process: load the initial models, then open gRPC and REST; poll for new
versions and config changes; on SIGTERM/SIGINT stop accepting, let in-flight requests finish, exit 0."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from .auth import ApiKeys, GrpcApiKeys
from .batching import BatchOptions
from .config import DEFAULT_PROMETHEUS_PATH, read_batching_parameters, read_model_server_config, read_monitoring_config
from .errors import ServingError, StartupError
from .flags import session_threads
from .grpc_service import add_services
from .limits import ELEMENTS_PER_BYTE
from .manager import Manager
from .metrics import ServingMetrics
from .rest import RestApi
from .tls import grpc_credentials, grpc_tls, rest_ssl_context
from .validation import VersionLabelError

log = logging.getLogger("model_server")
GRACE_SECONDS = 10
LABELS_AT_STARTUP = (
    "TF Serving assigns version_labels before it loads the models of a config, so a label in the config "
    "a server starts with points at a version that is not loaded yet. Start without the label and add it "
    "to the config (a reload: HandleReloadConfigRequest or --model_config_file_poll_wait_seconds) once the "
    "version is AVAILABLE, or pass --allow_version_labels_for_unavailable_models")


def initial_config(flags: Any) -> Any:
    from tensorflow_serving.config import model_server_config_pb2

    if flags.model_config_file:
        return read_model_server_config(Path(flags.model_config_file))
    config = model_server_config_pb2.ModelServerConfig()
    config.model_config_list.config.add(name=flags.model_name, base_path=flags.model_base_path,
                                        model_platform="tensorflow")
    return config


def configure_tensorflow(flags: Any) -> None:
    """The flags' thread counts, set before TensorFlow makes its first device: its intra-op and inter-op
    thread pools are process-wide, sized by the first session or eager context (TF Serving's first
    session carries the same flags)."""
    import tensorflow as tf

    intra, inter = session_threads(flags)
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def metrics_path(flags: Any) -> str | None:
    if not flags.monitoring_config_file:
        return None
    prometheus = read_monitoring_config(Path(flags.monitoring_config_file)).prometheus_config
    return (prometheus.path or DEFAULT_PROMETHEUS_PATH) if prometheus.enable else None


def freeze_startup_objects() -> None:
    """Move everything alive now (over 300,000 objects, most of them TensorFlow's) out of the garbage
    collector's view, so that full collections, the automatic ones and the one after each unload,
    only walk what was created since (the models and requests): ~10 ms instead of ~200 ms here."""
    gc.collect()
    gc.freeze()


async def serve(flags: Any) -> int:
    configure_tensorflow(flags)
    freeze_startup_objects()
    config = initial_config(flags)
    api_keys = ApiKeys.read(Path(flags.api_keys_file)) if flags.api_keys_file else None
    tls, ssl_context = grpc_tls(flags), rest_ssl_context(flags)  # bad TLS files fail before models load
    options = BatchOptions.from_proto(read_batching_parameters(Path(flags.batching_parameters_file))) \
        if flags.enable_batching and flags.batching_parameters_file else (BatchOptions() if flags.enable_batching else None)
    path = metrics_path(flags)
    metrics = ServingMetrics()
    workers = options.num_batch_threads if options else flags.rest_api_num_threads
    executor = ThreadPoolExecutor(max(1, workers), thread_name_prefix="inference")
    manager = Manager(flags, metrics, executor, options)

    try:
        await manager.apply_config(config)
    except VersionLabelError as error:
        raise StartupError(f"{error}. {LABELS_AT_STARTUP}") from None
    except ServingError as error:
        raise StartupError(str(error)) from None
    for model in manager.models.values():
        if manager.serving_version(model.name) is None:
            failures = "; ".join(f"version {v.number}: {v.error.message}" for v in model.versions.values() if v.error)
            raise StartupError(f"model {model.name} has no version that loaded from {model.base_path}"
                               + (f" ({failures})" if failures else " (no integer-named version folders)"))

    grpc_server = grpc.aio.server(
        interceptors=[GrpcApiKeys(api_keys)] if api_keys else None,
        # No SO_REUSEPORT: a second server on a taken port must fail, not silently share it.
        options=[("grpc.max_receive_message_length", flags.max_request_bytes), ("grpc.so_reuseport", 0)])
    add_services(grpc_server, manager, metrics, flags.max_request_bytes * ELEMENTS_PER_BYTE)
    runner: web.AppRunner | None = None
    background: list[asyncio.Future[None]] = []
    # Whatever started is stopped again on the way out, a failed start-up included (REST's port taken
    # after gRPC is up): the caller never inherits a half-started server.
    try:
        await _start_grpc(grpc_server, flags, tls)
        if flags.rest_api_port:
            rest = RestApi(manager, metrics, flags.rest_api_timeout_in_ms, path, api_keys=api_keys,
                           protect_metrics=flags.protect_metrics, max_request_bytes=flags.max_request_bytes,
                           body_timeout=flags.rest_body_timeout_seconds)
            # aiohttp's keep-alive timer also closes a connection whose request headers never complete.
            runner = web.AppRunner(rest.app(), access_log=None, shutdown_timeout=GRACE_SECONDS,
                                   keepalive_timeout=flags.rest_header_timeout_seconds)
            await runner.setup()
            address = f"{flags.bind_address}:{flags.rest_api_port}"
            try:
                await web.TCPSite(runner, flags.bind_address, flags.rest_api_port, ssl_context=ssl_context).start()
            except OSError as error:
                raise StartupError(f"cannot listen for REST on {address}: {error.strerror or error}; stop the other "
                                   "server or pass another --rest_api_port") from None
            log.info("Exporting HTTP/REST API at:%s ...", address)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        background.append(asyncio.ensure_future(manager.poll_forever()))
        if flags.model_config_file and flags.model_config_file_poll_wait_seconds > 0:
            background.append(asyncio.ensure_future(poll_config(manager, flags)))
        await stop.wait()
        log.info("Shutting down: finishing in-flight requests (up to %ds)", GRACE_SECONDS)
    finally:
        for task in background:
            task.cancel()
        await grpc_server.stop(GRACE_SECONDS)
        if runner is not None:
            await runner.cleanup()
        await manager.shutdown()
        executor.shutdown(wait=False, cancel_futures=True)
    return 0


async def _start_grpc(grpc_server: grpc.aio.Server, flags: Any, tls: Any) -> None:
    address = f"{flags.bind_address}:{flags.port}"
    try:
        grpc_port = (grpc_server.add_secure_port(address, grpc_credentials(tls)) if tls
                     else grpc_server.add_insecure_port(address))
    except RuntimeError:
        raise StartupError(f"cannot listen for gRPC on {address}: the port is in use or not available; "
                           "stop the other server or pass another --port") from None
    await grpc_server.start()
    log.info("Running gRPC ModelServer at %s:%d%s ...", flags.bind_address, grpc_port, " (TLS)" if tls else "")


async def poll_config(manager: Manager, flags: Any) -> None:
    """Read and apply --model_config_file every --model_config_file_poll_wait_seconds, changed or not,
    as TF Serving's PollFilesystemAndReloadConfig does.

    A file that fails (unreadable, unparsable, or refused by validation.check_config, e.g. a label on
    a version that is not AVAILABLE) is logged and changes nothing, and is tried again at the next
    poll: a label written ahead of its version applies at the first poll after the version is
    AVAILABLE. Applying the file also undoes a config set since by HandleReloadConfigRequest."""
    path = Path(flags.model_config_file)
    applied = path.read_text()
    while True:
        await asyncio.sleep(flags.model_config_file_poll_wait_seconds)
        try:
            text = path.read_text()
            await manager.apply_config(read_model_server_config(path))
            if text != applied:
                applied = text
                log.info("Applied the changed model config %s", path)
        except Exception as error:  # keep serving the previous config
            log.error("Not applying %s: %s", path, error)
