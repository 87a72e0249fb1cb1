"""What a locustfile installs by importing this module: its command-line options, the request
pools, the Prometheus exporter of client-side metrics and the per-request log the scenarios read.

A project's locustfile may call `defaults(...)` at import to set its own option defaults (its model
name, ports and payload hook), which the command line and environment still override.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import gevent
from gevent.lock import Semaphore
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from . import open_loop, sources
from .arrivals import ARRIVALS
from .shapes import KINDS

if TYPE_CHECKING:
    from .locust_run import Request

logger = logging.getLogger(__name__)

# Ctrl-C, and the SIGINT that locust_run sends to end a run, make Locust write its reports and exit.
# A process started with SIGINT ignored (a background job of a script, nohup, some CI runners)
# passes that on, and Python then installs no KeyboardInterrupt handler: Locust would run to its time
# limit. Restore Python's default handler (only the main thread may; the locustfile is imported there).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN and threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, signal.default_int_handler)


# Option defaults a locustfile may change before Locust builds its parser (see `defaults`).
_defaults: dict[str, Any] = {"model_name": "default", "grpc_port": 8500, "metrics_port": 0, "requests": ""}


def defaults(*, model_name: str | None = None, grpc_port: int | None = None, metrics_port: int | None = None,
             requests: str | None = None) -> None:
    """A locustfile's own defaults: the model, the gRPC port next to --host, the client-metrics port
    and where requests come from (sources.parse)."""
    given = {"model_name": model_name, "grpc_port": grpc_port, "metrics_port": metrics_port, "requests": requests}
    _defaults.update({key: value for key, value in given.items() if value is not None})


@events.init_command_line_parser.add_listener
def add_options(parser: Any) -> None:
    group = parser  # (argument groups reject include_in_web_ui)
    group.add_argument("--model-name", default=_defaults["model_name"], env_var="MODEL_NAME", help="model to query")
    group.add_argument("--requests", default=_defaults["requests"], env_var="LOADTEST_REQUESTS",
                       help=f"where requests come from: {sources.FORMS}")
    group.add_argument("--grpc-target", default="", env_var="LOADTEST_GRPC_TARGET",
                       help="host:port of the gRPC API (default: --host's host with GRPC_PORT, else 8500)")
    group.add_argument("--rows", type=int, default=1, env_var="LOADTEST_ROWS",
                       help="rows (examples) per request, for a payload hook (files hold their own rows)")
    group.add_argument("--pool-size", type=int, default=256, help="distinct pre-built requests per process")
    group.add_argument("--payload-seed", type=int, default=0, help="seed given to a payload hook (its synthetic requests)")
    group.add_argument("--shape", choices=KINDS, default="steady", env_var="LOADTEST_SHAPE",
                       help="load shape: steady (-u users), step (ramp to -u by --step-users), spike")
    group.add_argument("--step-users", type=int, default=10, help="users added per step (step shape)")
    group.add_argument("--step-seconds", type=float, default=10.0, help="seconds per step (step shape)")
    group.add_argument("--spike-users", type=int, default=50, help="users during the spike (spike shape)")
    group.add_argument("--spike-seconds", type=float, default=10.0, help="length of the spike (spike shape)")
    group.add_argument("--arrival-rate", type=float, default=0.0, env_var="LOADTEST_ARRIVAL_RATE",
                       help="open loop (the *RateUser classes): requests/s over all users and workers, sent on "
                            "schedule whatever the replies; with --shape step/spike, the rate follows the shape")
    group.add_argument("--arrivals", choices=ARRIVALS, default="poisson",
                       help="open loop: poisson (random gaps, as independent clients) or uniform gaps")
    group.add_argument("--step-rate", type=float, default=0.0, help="open loop, step shape: requests/s added per step")
    group.add_argument("--spike-rate", type=float, default=0.0, help="open loop, spike shape: requests/s in the spike")
    group.add_argument("--canary-share", type=float, default=0.1,
                       help="GrpcCanaryUser: share of the requests sent to version label canary (the rest: stable)")
    group.add_argument("--metrics-port", type=int, default=_defaults["metrics_port"], env_var="LOADTEST_METRICS_PORT",
                       help="port of the Prometheus exporter of client-side metrics; 0 disables it")
    group.add_argument("--metrics-addr", default="127.0.0.1", env_var="LOADTEST_METRICS_ADDR",
                       help="address the exporter binds (0.0.0.0 for Prometheus in Docker)")
    group.add_argument("--request-log", default="", include_in_web_ui=False,
                       help="write every request (time, latency, outcome, served version) to PREFIX-<pid>.csv")
    group.add_argument("--run-info", default="", include_in_web_ui=False,
                       help="write a JSON file with Locust's CPU warning flags when Locust quits")


def grpc_target(options: Any) -> str:
    if options.grpc_target:
        return options.grpc_target
    host = urlparse(options.host or "http://127.0.0.1").hostname or "127.0.0.1"
    return f"{host}:{os.environ.get('GRPC_PORT') or _defaults['grpc_port']}"


# --- request pools: built once per process at init, before any user runs -------------------------

_environment: Any = None  # Locust's, once init has run
_pools: dict[str, list[Any]] = {}
# Building a pool imports TensorFlow (gRPC), which can yield to gevent: a worker may then start
# users (on the master's orders) before init is done, so a user that comes early waits here.
_building = Semaphore()


def pool(protocol: str) -> list[Any]:
    if protocol not in _pools:
        with _building:
            if protocol not in _pools and _environment is not None:
                _build_pool(_environment.parsed_options, protocol)
    return _pools[protocol]


_labelled: dict[str, list[Any]] = {}


def labelled_pool(label: str) -> list[Any]:
    """The gRPC pool's requests addressed to a version label (copies, built once per process)."""
    if label not in _labelled:
        copies = []
        for request in pool("grpc"):
            copy = type(request)()
            copy.CopyFrom(request)
            copy.model_spec.version_label = label
            copies.append(copy)
        _labelled[label] = copies
    return _labelled[label]


def _build_pool(options: Any, protocol: str) -> None:
    started = time.perf_counter()
    source = sources.parse(options.requests)
    if protocol == "rest":
        _pools["rest"] = source.rest_bodies(options.model_name, options.rows, options.pool_size, options.payload_seed)
    else:
        _pools["grpc"] = source.grpc_requests(options.model_name, options.rows, options.pool_size, options.payload_seed,
                                              rest_url=options.host or "")
    logger.info("built the %s request pool (%d rows per request) in %.1fs", protocol, options.rows,
                time.perf_counter() - started)


def _build_pools(environment: Any) -> None:
    protocols = {getattr(user_class, "protocol", "rest") for user_class in environment.user_classes}
    for protocol in sorted(protocols):
        pool(protocol)


# --- client-side metrics for Prometheus ---------------------------------------------------------

_local_observations = True  # False in workers: they ship observations to the master instead
_buffer: list[tuple[str, bool, float, str]] = []
_worker_requests: dict[str, int] = {}  # in a master: requests each worker reported
_request_log: list[Request] = []  # the requests the run's counts include
# A worker's requests since its last report to the master. They join the log with that report: one
# that ends after the last report is in no count of the run (the master never hears of it), so it is
# left out, and the log holds exactly the requests the report counts.
_unreported: list[Request] = []


def _protocol(request_type: str) -> str:
    return "grpc" if request_type == "grpc" else "rest"


@events.init.add_listener
def on_init(environment: Any, runner: Any, **_: Any) -> None:
    global _local_observations, _environment
    _environment = environment
    options = environment.parsed_options
    if options is None:  # library use without command-line options
        return
    _local_observations = not isinstance(runner, WorkerRunner)
    if not isinstance(runner, MasterRunner):
        _build_pools(environment)
    if not isinstance(runner, WorkerRunner) and options.metrics_port:
        from . import metrics

        try:
            metrics.start(options.metrics_port, options.metrics_addr)
        except OSError as error:
            logger.error("client metrics exporter not started on %s:%s (%s); the load test goes on without it",
                         options.metrics_addr, options.metrics_port, error)
        else:
            gevent.spawn(metrics.follow_users, runner)
            for user_class in environment.user_classes:  # the canary's routes, at zero from the start
                metrics.start_routes(getattr(user_class, "protocol", "rest"), list(getattr(user_class, "routes", ())))
            logger.info("client metrics on http://%s:%s/metrics", options.metrics_addr, options.metrics_port)


@events.request.add_listener
def on_request(request_type: str, response_time: float, exception: Any = None,
               context: dict | None = None, **_: Any) -> None:
    from . import metrics

    protocol, ok = _protocol(request_type), exception is None
    route = (context or {}).get("route") or metrics.LATEST
    if _local_observations:
        metrics.observe(protocol, ok, response_time / 1000, route)
    else:
        _buffer.append((protocol, ok, response_time / 1000, route))
    entry = (time.time(), response_time, int(ok), (context or {}).get("version"))
    (_request_log if _local_observations else _unreported).append(entry)


@events.report_to_master.add_listener
def ship_observations(client_id: str, data: dict, **_: Any) -> None:
    data["loadtest_observations"] = list(_buffer)
    _buffer.clear()
    _request_log.extend(_unreported)
    _unreported.clear()


@events.worker_report.add_listener
def receive_observations(client_id: str, data: dict, **_: Any) -> None:
    from . import metrics

    observations = data.get("loadtest_observations", [])
    for protocol, ok, seconds, route in observations:
        metrics.observe(protocol, ok, seconds, route)
    _worker_requests[client_id] = _worker_requests.get(client_id, 0) + len(observations)


@events.quitting.add_listener
def write_files(environment: Any, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    if options.request_log and _request_log:
        path = Path(f"{options.request_log}-{os.getpid()}.csv")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(["time", "latency_ms", "ok", "version"])
            writer.writerows(_request_log)
    runner = environment.runner
    if options.run_info and not isinstance(runner, WorkerRunner):
        Path(options.run_info).write_text(json.dumps({
            "cpu_warning": bool(getattr(runner, "cpu_warning_emitted", False)),
            "worker_cpu_warning": bool(getattr(runner, "worker_cpu_warning_emitted", False)),
            "user_classes": [user_class.__name__ for user_class in environment.user_classes],
            "worker_requests": _worker_requests,  # distributed runs: what each worker sent
            "open_loop": open_loop.run_info(),  # target rate and missed sends (None: closed loop)
        }))


@events.quit.add_listener
def write_final_stats(**_: Any) -> None:
    """Rewrite <csv prefix>_stats.csv with the final numbers.

    Locust refreshes that file every few seconds, so it can miss the last requests of a run; the
    scenarios compare it with their summaries, so it must hold the same final totals.
    """
    from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

    options = _environment.parsed_options if _environment else None
    if not options or not options.csv_prefix or isinstance(_environment.runner, WorkerRunner):
        return
    with open(f"{options.csv_prefix}_stats.csv", "w", newline="") as file:
        StatsCSV(_environment, PERCENTILES_TO_REPORT).requests_csv(csv.writer(file))
