"""`tfserving-loadtest`: steady load, the capacity search, batching off against on, the batching
tuner and version swaps under load, against any TF Serving endpoint and model, with requests from a
JSON file, the model's warmup records or a payload hook.

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


def _levels(value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(level) for level in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a comma-separated list of user counts") from None
    if not levels or min(levels) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: each level needs at least one user")
    return levels


def _server_command(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--server-command", required=True,
                        help="the model server, taking tensorflow_model_server's flags, without ports or batching "
                             "flags: e.g. 'tensorflow_model_server --model_name=m --model_base_path=/models/m'")


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


def _objective(parser: argparse.ArgumentParser, probe_seconds: float, max_probes: int, precision: float,
               required: bool = True) -> None:
    objective = parser.add_argument_group("the objective and the search")
    objective.add_argument("--slo-ms", type=_positive, required=required, default=None,
                           help="latency objective: p99 at or below this" + ("" if required else
                                                                             " (default: no capacity search)"))
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
    main = argparse.ArgumentParser(prog="tfserving-loadtest", description="Steady load, capacity at a latency objective, "
                                   "batching off against on, a batching tuner, version swaps, soaks and canary rollouts "
                                   "for any TF Serving endpoint and model, on Locust.")
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

    batching = commands.add_parser("batching", help="the same load with batching off, then on: what batching buys",
                                   description="Starts --server-command twice (batching off, then on, with free "
                                               "ports), measures each closed-loop level, and with --slo-ms each "
                                               "one's capacity at the objective; the on/off ratios are the verdict.")
    _server_command(batching)
    batching.add_argument("--batching-file", type=Path, default=None,
                          help="the batching parameters when on (default: TF Serving's defaults)")
    batching.add_argument("--levels", type=_levels, default=(1, 16, 64),
                          help="closed-loop users per level, comma-separated (default: 1,16,64)")
    batching.add_argument("--level-seconds", type=_positive, default=10.0, help="seconds per level (default: 10)")
    _common(batching)
    _objective(batching, probe_seconds=5, max_probes=10, precision=0.1, required=False)

    swap = commands.add_parser("swap", help="new versions, a rollback and a corrupt one published under gRPC load",
                               description="Publishes copies of the newest version into --model-base-path (the "
                                           "folder the server polls) while gRPC users send: traffic must move to "
                                           "each, no request may fail, the corrupt one must never serve. The "
                                           "versions it published are removed afterwards.")
    _server(swap)
    swap.add_argument("--model-base-path", type=Path, required=True,
                      help="the model's base path as the server reads it (its versions are numbered folders)")
    swap.add_argument("--users", type=int, default=8, help="gRPC users (default: 8)")
    swap.add_argument("--interval", type=_positive, default=5.0,
                      help="seconds of traffic on each version before the next swap (default: 5)")
    swap.add_argument("--max-duration", type=_positive, default=180.0, help="most seconds the run takes (default: 180)")
    swap.add_argument("--no-corrupt", dest="corrupt", action="store_false", help="skip the corrupt version")
    _common(swap)

    tune = commands.add_parser("tune-batching", help="search TF Serving's batching parameters for the most capacity",
                               description="Starts --server-command once per candidate (with free ports and the "
                                           "candidate's --batching_parameters_file), finds each one's capacity at "
                                           "the objective within --budget, and writes the best as batching.conf.")
    _server_command(tune)
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

    soak = commands.add_parser("soak", help="long mixed REST and gRPC load with faults: versions published, "
                                            "malformed bursts",
                               description="Closed-loop REST and gRPC clients for --duration while, every "
                                           "--fault-every seconds, a copy of the newest version is published into "
                                           "--model-base-path or a burst of malformed requests is sent; any outcome "
                                           "other than OK or the bursts' 4xx fails it. Writes soak.json.")
    _server(soak)
    soak.add_argument("--model-name", required=True, help="the model's name on the server")
    soak.add_argument("--requests", required=True, metavar="SOURCE", help=f"where requests come from: {sources.FORMS}")
    soak.add_argument("--model-base-path", type=Path, required=True,
                      help="the model's base path as the server reads it: the publish faults write there (and "
                           "their versions are removed afterwards)")
    soak.add_argument("--duration", type=_positive, default=120.0, help="seconds (default: 120)")
    soak.add_argument("--interval", type=_positive, default=10.0, help="seconds per reported interval (default: 10)")
    soak.add_argument("--fault-every", type=_positive, default=20.0, help="seconds between faults (default: 20)")
    soak.add_argument("--clients", type=int, default=4, help="REST clients, and as many gRPC ones (default: 4)")
    soak.add_argument("--server-pid", type=int, default=None, help="the server's process id, for its memory")
    soak.add_argument("--reports-dir", type=Path, default=Path("reports"),
                      help="the run writes REPORTS_DIR/<timestamp>-soak/soak.json (default: reports)")

    canary = commands.add_parser("canary", help="roll a candidate version out on a running server, judged on a share "
                                                "of the traffic in Prometheus",
                                 description="Loads the candidate beside the stable version by rewriting the "
                                             "models.config the server polls, sends --share of an open-loop gRPC "
                                             "load to label canary and the rest to label stable, compares their "
                                             "error ratios and p99s in Prometheus over --window, then promotes "
                                             "(label stable -> candidate) or rolls back (candidate unloaded). "
                                             "Exit status 0 when promoted, 1 when rolled back.")
    _server(canary)
    canary.add_argument("--model-name", required=True, help="the model's name on the server")
    canary.add_argument("--requests", required=True, metavar="SOURCE", help=f"where requests come from: {sources.FORMS}")
    canary.add_argument("--model-config-file", type=Path, required=True,
                        help="the models.config the server polls (--model_config_file); rewritten at each step")
    canary.add_argument("--model-base-path", type=Path, required=True, help="the model's versions, as numbered folders")
    canary.add_argument("--prometheus", required=True, help="URL of the Prometheus that scrapes the load generator "
                        "(a job named loadtest, at --metrics-port)")
    canary.add_argument("--metrics-port", type=int, required=True, help="port of the load generator's metrics")
    canary.add_argument("--candidate", type=int, default=None, help="version to roll out (default: the newest)")
    canary.add_argument("--rate", type=_positive, default=100.0, help="requests/s, open loop, over both labels (default: 100)")
    canary.add_argument("--share", type=_positive, default=0.2, help="share of the requests to the candidate (default: 0.2)")
    canary.add_argument("--window", type=_positive, default=60.0, help="seconds of traffic judged (default: 60)")
    canary.add_argument("--warmup", type=float, default=None,
                        help="seconds of traffic before the window (default: two scrape intervals + 2)")
    canary.add_argument("--slo-ms", type=_positive, default=100.0,
                        help="the latency objective, for how many requests may be in flight (default: 100)")
    canary.add_argument("--max-error-increase", type=float, default=0.001,
                        help="roll back when the canary's error ratio exceeds stable's by more than this (default: 0.001)")
    canary.add_argument("--max-p99-ratio", type=_positive, default=1.5,
                        help="roll back when the canary's p99 exceeds stable's times this plus --p99-slack-ms (default: 1.5)")
    canary.add_argument("--p99-slack-ms", type=float, default=10.0, help="allowance on the p99 comparison (default: 10)")
    canary.add_argument("--min-requests", type=int, default=200,
                        help="requests each label needs in the window; fewer: the candidate is rolled back (default: 200)")
    canary.add_argument("--apply-timeout", type=_positive, default=120.0,
                        help="seconds the server gets to apply each models.config change (default: 120)")
    canary.add_argument("--reports-dir", type=Path, default=Path("reports"),
                        help="the run writes REPORTS_DIR/<timestamp>-canary/ (default: reports)")

    bench = commands.add_parser("bench", help="the embedded server against each protocol's floor and a naive server, "
                                              "side by side, with its CPU per request",
                                description="In-process calls (the ceiling), the embedded server over REST and gRPC "
                                            "with batching off and on, each protocol's floor (the server's runtimes "
                                            "answering with a canned reply) and, with --naive-command, a naive "
                                            "server, measured in --repeats runs; the model's load paths; a py-spy "
                                            "profile of the server. Writes bench.json and bench.txt.")
    bench.add_argument("--model-name", required=True, help="the model's name")
    bench.add_argument("--requests", required=True, metavar="SOURCE", help=f"where requests come from: {sources.FORMS}")
    bench.add_argument("--model-base-path", type=Path, required=True, help="the model's versions; the newest is benchmarked")
    bench.add_argument("--batching-file", type=Path, required=True, help="the batching parameters of the batching-on servers")
    bench.add_argument("--signature", default="serving_default", help="the signature called (default: serving_default)")
    bench.add_argument("--seconds", type=_positive, default=5.0, help="measurement time per cell (default: 5)")
    bench.add_argument("--levels", type=_levels, default=(1, 16, 64), help="concurrent clients per cell (default: 1,16,64)")
    bench.add_argument("--rows", type=int, default=1, help="rows per request, for a payload hook (default: 1)")
    bench.add_argument("--ranking-rows", type=_levels, default=(), help="rows per request of extra batching-on cells "
                       "at the top level, for a payload hook, e.g. 50,200 (default: none)")
    bench.add_argument("--repeats", type=int, default=3, help="runs of every served cell (default: 3)")
    bench.add_argument("--no-load-paths", dest="load_paths", action="store_false", help="skip the load paths")
    bench.add_argument("--no-profile", dest="profile", action="store_false", help="skip the py-spy profile")
    bench.add_argument("--baseline", type=Path, default=None,
                       help="a folder holding another release's embedded_tfserving, run beside this one")
    bench.add_argument("--naive-command", default="",
                       help="a server answering TF Serving's REST predict route and GET /ready, started with its "
                            "port appended, e.g. 'python my_flask_app.py model.keras'")
    bench.add_argument("--reports-dir", type=Path, default=Path("reports"),
                       help="the run writes REPORTS_DIR/<timestamp>-bench/ (default: reports)")

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
    elif options.command == "batching":
        from . import server_command
        from .scenarios import batching

        server_command.check_command(options.server_command)

        def start_either(on: bool, log: Path) -> server_command.RunningServer:
            return server_command.start(options.server_command, options.model_name, log, batching=on,
                                        batching_file=options.batching_file)

        summary = batching.run(batching.BatchingOptions(
            start_server=start_either, model_name=options.model_name, requests=options.requests,
            levels=options.levels, level_seconds=options.level_seconds, protocol=options.protocol, rows=options.rows,
            workers=options.workers, metrics_port=options.metrics_port, reports_dir=options.reports_dir,
            slo_ms=options.slo_ms, max_error_rate=options.max_error_rate, probe_seconds=options.probe_seconds,
            max_probes=options.max_probes, precision=options.precision))
    elif options.command == "soak":
        from .run_dirs import run_dir_path
        from .scenarios import soak

        host = options.host.rstrip("/")
        out_dir = run_dir_path(options.reports_dir, "soak")
        soak.finish(soak.run(soak.SoakOptions(
            rest_url=host, grpc_target=_grpc_target(host, options.grpc_target), model_name=options.model_name,
            base_path=options.model_base_path, requests=options.requests, out_dir=out_dir, seconds=options.duration,
            interval=options.interval, fault_every=options.fault_every, clients=options.clients,
            server_pid=options.server_pid)), out_dir)
        return
    elif options.command == "canary":
        from . import canary_policy
        from .errors import CanaryError
        from .scenarios import canary

        host = options.host.rstrip("/")
        summary = canary.run(canary.CanaryOptions(
            config_path=options.model_config_file, base_path=options.model_base_path, model_name=options.model_name,
            rest_url=host, grpc_target=_grpc_target(host, options.grpc_target),
            prometheus=options.prometheus.rstrip("/"), requests=options.requests, slo_ms=options.slo_ms,
            candidate=options.candidate, rate=options.rate, share=options.share, window=options.window,
            warmup=options.warmup, apply_timeout=options.apply_timeout, metrics_port=options.metrics_port,
            reports_dir=options.reports_dir,
            thresholds=canary_policy.Thresholds(max_error_increase=options.max_error_increase,
                                                max_p99_ratio=options.max_p99_ratio,
                                                p99_slack_ms=options.p99_slack_ms, min_requests=options.min_requests)))
        if summary["decision"] != canary_policy.PROMOTE:
            raise CanaryError(f"version {summary['candidate_version']} rolled back; version "
                              f"{summary['serving_stable']} stays stable (report: {summary['run_dir']})")
        return
    elif options.command == "bench":
        import shlex

        from .bench import run as bench
        from .run_dirs import run_dir_path

        def flags(batching_file: Path | None) -> list[str]:
            served = [f"--model_name={options.model_name}", f"--model_base_path={options.model_base_path.resolve()}"]
            if batching_file is None:
                return served
            return [*served, "--enable_batching=true", f"--batching_parameters_file={batching_file.resolve()}"]

        bench_options = bench.BenchOptions(
            model_name=options.model_name, base_path=options.model_base_path, requests=options.requests,
            output=run_dir_path(options.reports_dir, "bench") / "bench.json", server_flags=flags,
            batching_file=options.batching_file, signature=options.signature,
            naive_command=shlex.split(options.naive_command) or None, seconds=options.seconds, levels=options.levels,
            rows=options.rows, ranking_rows=options.ranking_rows, load_paths=options.load_paths,
            repeats=options.repeats, profile=options.profile, baseline=options.baseline,
            say=lambda line: print(line, file=sys.stderr))
        report = bench.text(bench.run(bench_options), bench_options)
        bench_options.output.with_suffix(".txt").write_text(report + "\n")
        print(report)
        print(f"\nwritten: {bench_options.output}, {bench_options.output.with_suffix('.txt')}")
        return
    elif options.command == "swap":
        from .scenarios import swap

        host = options.host.rstrip("/")
        summary = swap.run(swap.SwapOptions(
            rest_url=host, grpc_target=_grpc_target(host, options.grpc_target), model_name=options.model_name,
            base_path=options.model_base_path, requests=options.requests, users=options.users,
            interval=options.interval, max_duration=options.max_duration, rows=options.rows,
            corrupt=options.corrupt, metrics_port=options.metrics_port, reports_dir=options.reports_dir,
            workers=options.workers))
    else:
        from . import server_command
        from .scenarios import tune

        server_command.check_command(options.server_command)

        def start_server(batching_file: Path, log: Path) -> server_command.RunningServer:
            return server_command.start(options.server_command, options.model_name, log, batching_file=batching_file)

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
