"""`tfserving-loadtest`: steady load, the capacity search and the batching tuner against any TF
Serving endpoint and model, with requests from a JSON file, the model's warmup records or a payload
hook.

Locust is the engine (`locustfile` prints the path of the toolkit's own, for plain `locust -f`).
An expected failure prints one `Error: ...` line and exits with status 1; Ctrl-C, 130.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import arrivals, shapes, sources, thresholds
from .errors import LoadTestError

PROTOCOLS = ("rest", "grpc", "both")


def _positive(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value} is not above 0")
    return number


def _fail_if(value: str) -> list[thresholds.Threshold]:
    try:
        return thresholds.load([value])
    except LoadTestError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="http://127.0.0.1:8501", help="REST base URL (default: %(default)s)")
    parser.add_argument("--grpc-target", default="", help="host:port of the gRPC API (default: --host's host:8500)")


def _common(parser: argparse.ArgumentParser) -> None:
    model = parser.add_argument_group("the model and its requests")
    model.add_argument("--model-name", required=True, help="the model's name on the server")
    model.add_argument("--requests", required=True, metavar="SOURCE", help=f"where requests come from: {sources.FORMS}")
    model.add_argument("--rows", type=int, default=1, help="rows per request, for a payload hook (default: 1)")
    model.add_argument("--protocol", choices=PROTOCOLS, default="rest", help="rest, grpc, or both (default: rest)")
    run = parser.add_argument_group("the run")
    run.add_argument("--workers", type=int, default=1, help="Locust worker processes (default: 1)")
    run.add_argument("--metrics-port", type=int, default=0,
                     help="port of the client-side Prometheus metrics (default: 0, none)")
    run.add_argument("--reports-dir", type=Path, default=Path("reports"),
                     help="each run writes REPORTS_DIR/<timestamp>-<scenario>/ (default: reports)")
    run.add_argument("--fail-if", type=_fail_if, action="extend", default=[], metavar="EXPR",
                     help="exit 1 when this holds, e.g. 'p99_ms>50' or 'capacity_rps<100'; repeatable")


def _objective(parser: argparse.ArgumentParser, probe_seconds: float, max_probes: int, precision: float) -> None:
    objective = parser.add_argument_group("the objective and the search")
    objective.add_argument("--slo-ms", type=_positive, required=True, help="latency objective: p99 at or below this")
    objective.add_argument("--max-error-rate", type=float, default=0.001,
                           help="share of failed requests a rate may have and still pass (default: 0.001)")
    objective.add_argument("--probe-seconds", type=_positive, default=probe_seconds,
                           help=f"seconds of open-loop load per probed rate (default: {probe_seconds:g})")
    objective.add_argument("--max-probes", type=int, default=max_probes,
                           help=f"most rates probed per search (default: {max_probes})")
    objective.add_argument("--precision", type=_positive, default=precision,
                           help="stop once the first failing rate is within this fraction above the last passing "
                                f"one (default: {precision:g})")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="tfserving-loadtest", description="Steady load, capacity at a latency objective "
                                   "and a batching tuner for any TF Serving endpoint and model, on Locust.")
    commands = main.add_subparsers(dest="command", required=True)

    capacity = commands.add_parser("capacity", help="the highest rate a running server answers within a p99 objective",
                                   description="Open-loop probes: the rate doubles until one misses the objective, "
                                               "then the gap is bisected. Writes the latency-throughput curve.")
    _server(capacity)
    capacity.add_argument("--arrivals", choices=arrivals.ARRIVALS, default="poisson",
                          help="poisson (random gaps, as independent clients) or uniform gaps (default: poisson)")
    capacity.add_argument("--start-rate", type=float, default=0.0,
                          help="first rate probed (default: a quarter of what one idle connection sends)")
    capacity.add_argument("--max-rate", type=_positive, default=5000.0, help="highest rate probed (default: 5000)")
    _common(capacity)
    _objective(capacity, probe_seconds=8, max_probes=12, precision=0.1)

    tune = commands.add_parser("tune-batching", help="search TF Serving's batching parameters for the most capacity",
                               description="Starts --server-command once per candidate (with free ports and the "
                                           "candidate's --batching_parameters_file), finds each one's capacity at "
                                           "the objective within --budget, and writes the best as batching.conf.")
    tune.add_argument("--server-command", required=True,
                      help="the model server, taking tensorflow_model_server's flags, without ports or batching "
                           "flags: e.g. 'tensorflow_model_server --model_name=m --model_base_path=/models/m'")
    tune.add_argument("--batching-file", type=Path, default=None,
                      help="the batching parameters in use, the baseline (default: TF Serving's defaults)")
    tune.add_argument("--write-batching-file", action="store_true",
                      help="also write the best values into --batching-file (its comments kept)")
    tune.add_argument("--budget", type=_positive, default=900.0, help="seconds for the whole search (default: 900)")
    _common(tune)
    _objective(tune, probe_seconds=5, max_probes=8, precision=0.15)

    steady = commands.add_parser("steady", help="steady, step or spike load on a running server, closed or open loop",
                                 description="Closed loop (each user sends again once answered), or open loop at "
                                             "--rate whatever the replies; a report with every request's latency.")
    _server(steady)
    steady.add_argument("--users", type=int, default=8, help="users (open loop: requests in flight at most; default: 8)")
    steady.add_argument("--spawn-rate", type=float, default=0.0, help="users started per second (default: all at once)")
    steady.add_argument("--duration", type=_positive, default=30.0, help="seconds (default: 30)")
    steady.add_argument("--rate", type=float, default=0.0, help="open loop at this many requests/s (default: closed loop)")
    steady.add_argument("--arrivals", choices=arrivals.ARRIVALS, default="poisson",
                        help="open loop: poisson or uniform gaps (default: poisson)")
    steady.add_argument("--shape", choices=shapes.KINDS, default="steady",
                        help="steady, step (ramp to --users) or spike (default: steady)")
    _common(steady)

    commands.add_parser("locustfile", help="print the path of the toolkit's locustfile (for locust -f)")
    return main


def _grpc_target(host: str, given: str) -> str:
    from urllib.parse import urlparse

    return given or f"{urlparse(host).hostname or '127.0.0.1'}:8500"


def run(options: Any) -> None:
    from . import verdict

    if options.command == "locustfile":
        from .locust_run import LOCUSTFILE

        print(LOCUSTFILE)
        return
    sources.parse(options.requests)  # a bad --requests fails before any server or load
    if options.command == "capacity":
        from . import capacity_search
        from .scenarios import capacity

        host = options.host.rstrip("/")
        target = capacity_search.Target(host=host, grpc_target=_grpc_target(host, options.grpc_target),
                               model_name=options.model_name, protocol=options.protocol, rows=options.rows,
                               workers=options.workers, arrivals=options.arrivals, probe_seconds=options.probe_seconds,
                               metrics_port=options.metrics_port, requests=options.requests)
        summary = capacity.run(capacity.CapacityOptions(
            target=target, slo_ms=options.slo_ms, max_error_rate=options.max_error_rate, start_rate=options.start_rate,
            max_rate=options.max_rate, precision=options.precision, max_probes=options.max_probes,
            reports_dir=options.reports_dir))
    elif options.command == "steady":
        from .scenarios import steady

        host = options.host.rstrip("/")
        summary = steady.run(steady.SteadyOptions(
            host=host, grpc_target=_grpc_target(host, options.grpc_target), model_name=options.model_name,
            protocol=options.protocol, users=options.users, spawn_rate=options.spawn_rate, duration=options.duration,
            rows=options.rows, workers=options.workers, metrics_port=options.metrics_port,
            shape=["--shape", options.shape], reports_dir=options.reports_dir, rate=options.rate,
            arrivals=options.arrivals, requests=options.requests))
    else:
        from . import server_command
        from .scenarios import tune

        server_command.check_command(options.server_command)

        def start_server(batching_file: Path, log: Path) -> server_command.RunningServer:
            return server_command.start(options.server_command, options.model_name, batching_file, log)

        summary = tune.run(tune.TuneOptions(
            start_server=start_server, model_name=options.model_name, slo_ms=options.slo_ms, requests=options.requests,
            budget_s=options.budget, max_error_rate=options.max_error_rate, probe_seconds=options.probe_seconds,
            precision=options.precision, max_probes=options.max_probes, protocol=options.protocol, rows=options.rows,
            workers=options.workers, metrics_port=options.metrics_port, baseline_file=options.batching_file,
            write_baseline=options.write_batching_file, reports_dir=options.reports_dir))
    verdict.finish(summary, options.fail_if)


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    try:
        run(options)
    except LoadTestError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
