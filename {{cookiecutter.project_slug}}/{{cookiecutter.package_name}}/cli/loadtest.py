"""`loadtest` (steady, capacity, batching, tune-batching, swap, rollout, scale), `bench` and `soak`:
the commands that put load on a server.
Heavy imports (Locust, TensorFlow) happen inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tfserving_loadtest import thresholds
from tfserving_loadtest.arrivals import ARRIVALS
from tfserving_loadtest.shapes import KINDS

from .. import settings
from ..errors import LoadTestError, ToolkitError
from .options import model_name_option, models_dir_option, reports_dir_option, server_options

PROTOCOL = click.Choice(["rest", "grpc", "both"])


def _thresholds(_: Any, __: Any, values: tuple[str, ...]) -> list[thresholds.Threshold]:
    # Parsed here, so a typo fails before any load is sent.
    try:
        return thresholds.load(values)
    except ToolkitError as error:
        raise click.BadParameter(str(error)) from None


def _baseline(_: Any, __: Any, value: Path | None) -> Path | None:
    if value is not None and not (value / "embedded_tfserving" / "__main__.py").is_file():
        raise click.BadParameter(f"no embedded_tfserving package in {value}: give the folder that holds it "
                                 "(another release's unpacked wheel, or its packages/embedded-tfserving/src)")
    return value


def _common(command: Any) -> Any:
    """Options every scenario takes."""
    options = [
        model_name_option("model to load-test (MODEL_NAME in .env)"),
        click.option("--rows", type=click.IntRange(1), default=1, show_default=True, help="rows (examples) per request"),
        click.option("--metrics-port", type=click.IntRange(0, 65535), envvar="LOADTEST_METRICS_PORT",
                     default=settings.metrics_port, show_default="LOADTEST_METRICS_PORT",
                     help="port for the client-side Prometheus metrics; 0 disables them"),
        reports_dir_option("each run writes <reports-dir>/<timestamp>-<scenario>/"),
        click.option("--workers", type=click.IntRange(1), default=None,
                     help="Locust worker processes; above 1, a master runs them and aggregates their numbers in "
                          "one report (default: one per 4 cores)"),
        click.option("--fail-if", "fail_if", metavar="EXPR", multiple=True, callback=_thresholds,
                     help="fail the run (exit code 1) when this holds, e.g. --fail-if 'p99_ms>50' "
                          "--fail-if 'error_rate>0.001'; repeatable; @FILE reads one expression a line"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _served_model(command: Any) -> Any:
    """Options of the scenarios that start their own embedded server on a copy of the model."""
    options = [
        models_dir_option("published models (the newest version is used)"),
        click.option("--in-place", is_flag=True,
                     help="serve (and, for swap, publish into) --models-dir itself instead of a temporary copy"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# The scenarios that change the scale-out stack's replicas load its balancer.
_balancer = server_options("the balancer")


def _objective(probe_seconds: float, max_probes: int, precision: float) -> Any:
    """Options of the scenarios that search for the capacity at a latency objective (defaults differ)."""
    def decorate(command: Any) -> Any:
        options = [
            click.option("--slo-ms", type=click.FloatRange(0, min_open=True), default=settings.slo_p99_ms,
                         show_default="SLO_P99_MS", help="latency objective: p99 at or below this many ms"),
            click.option("--max-error-rate", type=click.FloatRange(0, 1), default=0.001, show_default=True,
                         help="share of failed requests a rate may have and still count as within the objective"),
            click.option("--probe-seconds", type=click.FloatRange(1), default=probe_seconds, show_default=True,
                         help="seconds of open-loop load per probed rate"),
            click.option("--max-probes", type=click.IntRange(2), default=max_probes, show_default=True,
                         help="most rates probed per capacity search (tune-batching's first candidate, which "
                              "starts from a low rate, gets 4 more)"),
            click.option("--precision", type=click.FloatRange(0.01, 1), default=precision, show_default=True,
                         help="stop once the first failing rate is within this fraction above the last passing one"),
        ]
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def _finish(summary: dict[str, Any], fail_if: list[thresholds.Threshold]) -> None:
    from tfserving_loadtest import verdict

    verdict.finish(summary, fail_if)


@click.group("loadtest")
def loadtest_group() -> None:
    """Locust load tests; each run writes a report under reports/."""


@loadtest_group.command("steady")
@server_options("the running server")
@click.option("--protocol", type=PROTOCOL, default="rest", show_default=True,
              help="rest, grpc, or both (the users split between the two)")
@click.option("--users", type=click.IntRange(1), default=None,
              help="concurrent users (peak for step); with --rate, how many requests may be in flight "
                   "[default: 8; with --rate, twice the rate times SLO_P99_MS]")
@click.option("--spawn-rate", type=click.FloatRange(0), default=0, help="users started per second (0: all at once)")
@click.option("--duration", type=click.FloatRange(1), default=30, show_default=True, help="seconds")
@click.option("--rate", type=click.FloatRange(0, min_open=True), default=None,
              help="open loop: send this many requests/s whatever the replies, latency counted from each "
                   "request's due time (--shape then applies to the rate)")
@click.option("--arrivals", type=click.Choice(ARRIVALS), default="poisson", show_default=True,
              help="open loop: poisson (random gaps, like independent clients) or uniform gaps")
@click.option("--step-rate", type=click.FloatRange(0), default=0, help="open loop, step shape: requests/s added "
              "per step (0: a fifth of --rate)")
@click.option("--spike-rate", type=click.FloatRange(0), default=0, help="open loop, spike shape: requests/s during "
              "the spike (0: three times --rate)")
@click.option("--shape", type=click.Choice(KINDS), default="steady", show_default=True)
@click.option("--step-users", type=click.IntRange(1), default=4, show_default=True, help="step shape: users per step")
@click.option("--step-seconds", type=click.FloatRange(1), default=10, show_default=True, help="step shape: seconds per step")
@click.option("--spike-users", type=click.IntRange(1), default=32, show_default=True, help="spike shape: users in the spike")
@click.option("--spike-seconds", type=click.FloatRange(1), default=5, show_default=True, help="spike shape: its length")
@_common
def steady_command(host: str, grpc_target: str, protocol: str, users: int | None, spawn_rate: float,
                   duration: float, rate: float | None, arrivals: str, step_rate: float, spike_rate: float, shape: str,
                   step_users: int, step_seconds: float, spike_users: int, spike_seconds: float,
                   model_name: str, rows: int, metrics_port: int, reports_dir: Path, workers: int | None,
                   fail_if: list[thresholds.Threshold]) -> None:
    """Steady (or step / spike) load against the server that runs now (`make serve`): closed loop
    (each user sends again once answered), or open loop at a fixed rate with --rate."""
    from tfserving_loadtest import arrivals as arrival_maths
    from tfserving_loadtest.scenarios import steady

    from ..loadtest import REQUESTS, preflight
    from ..loadtest.scenarios import common

    preflight.check_rest(host.rstrip("/"), model_name)  # this project's signature, before the toolkit's checks
    shape_options = ["--shape", shape, "--step-users", str(step_users), "--step-seconds", str(step_seconds),
                     "--spike-users", str(spike_users), "--spike-seconds", str(spike_seconds),
                     "--step-rate", str(step_rate), "--spike-rate", str(spike_rate)]
    if users is None:
        users = arrival_maths.users_for(rate, settings.slo_p99_ms() / 1000) if rate else 8
    _finish(steady.run(steady.SteadyOptions(
        rate=rate or 0.0, arrivals=arrivals,
        host=host.rstrip("/"), grpc_target=grpc_target, model_name=model_name, protocol=protocol, users=users,
        spawn_rate=spawn_rate, duration=duration, rows=rows, workers=workers or common.default_workers(),
        metrics_port=metrics_port, shape=shape_options, reports_dir=reports_dir, requests=REQUESTS,
    )), fail_if)


def _levels(_: Any, __: Any, value: str) -> tuple[int, ...]:
    try:
        levels = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of counts, e.g. 1,16,64") from None
    if not levels or min(levels) < 1:
        raise click.BadParameter("counts must be at least 1")
    return levels


def _sizes(context: Any, parameter: Any, value: str) -> tuple[int, ...]:
    """A comma-separated list of counts, or '' for none."""
    return _levels(context, parameter, value) if value.strip() else ()


@loadtest_group.command("batching")
@click.option("--levels", default="1,16,64", show_default=True, callback=_levels, help="concurrent users per level")
@click.option("--level-seconds", type=click.FloatRange(2), default=10, show_default=True, help="seconds per level")
@click.option("--protocol", type=PROTOCOL, default="rest", show_default=True,
              help="rest, grpc, or both (the users split between the two)")
@click.option("--capacity/--no-capacity", default=True, show_default=True,
              help="also find each mode's capacity at the objective (open loop), the report's headline")
@_objective(probe_seconds=5, max_probes=10, precision=0.1)
@_served_model
@_common
def batching_command(levels: tuple[int, ...], level_seconds: float, protocol: str, capacity: bool, slo_ms: float,
                     max_error_rate: float, probe_seconds: float, max_probes: int, precision: float, models_dir: Path,
                     in_place: bool, model_name: str, rows: int, metrics_port: int, reports_dir: Path,
                     workers: int | None, fail_if: list[thresholds.Threshold]) -> None:
    """Batching off vs on, same model and load: closed-loop throughput and latency at several
    concurrency levels, and each mode's capacity at p99 <= --slo-ms."""
    from tfserving_loadtest.scenarios import batching
    from tfserving_loadtest.server_command import Server

    from ..loadtest import REQUESTS
    from ..loadtest.scenarios import common

    with common.models_root(models_dir, model_name, in_place) as models:
        def start_server(on: bool, log: Path) -> Server:
            return common.start_server(common.server_flags(models, batching=on), log)

        summary = batching.run(batching.BatchingOptions(
            start_server=start_server, model_name=model_name, requests=REQUESTS, levels=levels,
            level_seconds=level_seconds, protocol=protocol, rows=rows, workers=workers or common.default_workers(),
            metrics_port=metrics_port, reports_dir=reports_dir, slo_ms=slo_ms if capacity else None,
            max_error_rate=max_error_rate, probe_seconds=probe_seconds, max_probes=max_probes, precision=precision))
    _finish(summary, fail_if)


@loadtest_group.command("capacity")
@server_options("the running server")
@click.option("--protocol", type=PROTOCOL, default="rest", show_default=True,
              help="rest, grpc, or both (the users split between the two)")
@click.option("--arrivals", type=click.Choice(ARRIVALS), default="poisson", show_default=True,
              help="poisson (random gaps, like independent clients) or uniform gaps")
@click.option("--start-rate", type=click.FloatRange(0), default=0,
              help="first rate probed, requests/s (0: a quarter of what one connection sends when idle)")
@click.option("--max-rate", type=click.FloatRange(1), default=5000, show_default=True, help="highest rate probed")
@_objective(probe_seconds=8, max_probes=12, precision=0.1)
@_common
def capacity_command(host: str, grpc_target: str, protocol: str, arrivals: str, start_rate: float, max_rate: float,
                     slo_ms: float, max_error_rate: float, probe_seconds: float, max_probes: int, precision: float,
                     model_name: str, rows: int, metrics_port: int, reports_dir: Path, workers: int | None,
                     fail_if: list[thresholds.Threshold]) -> None:
    """Highest request rate the running server answers with p99 <= --slo-ms (open loop: rates
    double until one misses, then bisect), with the latency-throughput curve."""
    from tfserving_loadtest import capacity_search
    from tfserving_loadtest.scenarios import capacity

    from ..loadtest import REQUESTS, preflight
    from ..loadtest.scenarios import common

    preflight.check_rest(host.rstrip("/"), model_name)  # this project's signature, before the toolkit's checks
    target = capacity_search.Target(host=host.rstrip("/"), grpc_target=grpc_target, model_name=model_name, protocol=protocol,
                           rows=rows, workers=workers or common.default_workers(), arrivals=arrivals,
                           probe_seconds=probe_seconds, metrics_port=metrics_port, requests=REQUESTS)
    _finish(capacity.run(capacity.CapacityOptions(
        target=target, slo_ms=slo_ms, max_error_rate=max_error_rate, start_rate=start_rate, max_rate=max_rate,
        precision=precision, max_probes=max_probes, reports_dir=reports_dir,
    )), fail_if)


@loadtest_group.command("tune-batching")
@click.option("--budget", type=click.FloatRange(1), default=900, show_default=True,
              help="seconds for the whole search; candidates stop when the next would not fit")
@click.option("--protocol", type=PROTOCOL, default="rest", show_default=True,
              help="rest, grpc, or both (the users split between the two)")
@click.option("--batching-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=lambda: settings.COMPOSE_DIR / "batching.conf", show_default="compose/batching.conf",
              help="the batching parameters to start from (the baseline) and, with --write-compose, to update")
@click.option("--write-compose", is_flag=True,
              help="also write the best values into --batching-file (its comments kept)")
@_objective(probe_seconds=5, max_probes=8, precision=0.15)
@_served_model
@_common
def tune_command(budget: float, protocol: str, batching_file: Path, write_compose: bool, slo_ms: float,
                 max_error_rate: float, probe_seconds: float, max_probes: int, precision: float, models_dir: Path, in_place: bool,
                 model_name: str, rows: int, metrics_port: int, reports_dir: Path, workers: int | None,
                 fail_if: list[thresholds.Threshold]) -> None:
    """Search TF Serving's batching parameters for the highest capacity at p99 <= --slo-ms, each
    candidate on an embedded server of its own; writes the best as batching.conf in the report."""
    from tfserving_loadtest.scenarios import tune
    from tfserving_loadtest.server_command import Server

    from ..loadtest import REQUESTS
    from ..loadtest.scenarios import common

    with common.models_root(models_dir, model_name, in_place) as models:
        def start_server(conf: Path, log: Path) -> Server:
            return common.start_server(common.server_flags(models, batching=True, batching_file=conf), log)

        summary = tune.run(tune.TuneOptions(
            start_server=start_server, model_name=model_name, slo_ms=slo_ms, requests=REQUESTS, budget_s=budget,
            max_error_rate=max_error_rate, probe_seconds=probe_seconds, precision=precision, max_probes=max_probes,
            protocol=protocol, rows=rows, workers=workers or common.default_workers(), metrics_port=metrics_port,
            baseline_file=batching_file, write_baseline=write_compose, reports_dir=reports_dir))
    _finish(summary, fail_if)


@loadtest_group.command("swap")
@click.option("--users", type=click.IntRange(1), default=8, show_default=True, help="concurrent gRPC users")
@click.option("--interval", type=click.FloatRange(1), default=5, show_default=True,
              help="seconds of traffic on each version before the next swap")
@click.option("--max-duration", type=click.FloatRange(10), default=180, show_default=True,
              help="upper bound of the whole run in seconds")
@click.option("--corrupt/--no-corrupt", default=True, show_default=True,
              help="finally publish a corrupt version and check that it never takes traffic")
@click.option("--against", type=click.Choice(["embedded", "running"]), default="embedded", show_default=True,
              help="embedded: a server of its own on a copy of the model; running: the server `make serve` runs "
                   "(compose or embedded), publishing into --models-dir and removing those versions afterwards")
@server_options("the running server (with --against running)")
@_served_model
@_common
def swap_command(users: int, interval: float, max_duration: float, corrupt: bool, against: str, host: str,
                 grpc_target: str, models_dir: Path, in_place: bool, model_name: str, rows: int, metrics_port: int,
                 reports_dir: Path, workers: int | None, fail_if: list[thresholds.Threshold]) -> None:
    """Publish 2 new versions, a rollback and a corrupt version under gRPC load; no request may fail."""
    from tfserving_loadtest.report import say
    from tfserving_loadtest.scenarios import swap

    from ..dashboards.grafana import annotate_quietly
    from ..loadtest import REQUESTS, preflight
    from ..loadtest.scenarios import common

    def options(rest_url: str, target: str, models: Path, restore: bool) -> swap.SwapOptions:
        preflight.check_rest(rest_url, model_name)  # this project's signature, before the toolkit's checks
        return swap.SwapOptions(
            rest_url=rest_url, grpc_target=target, model_name=model_name, base_path=models / model_name,
            requests=REQUESTS, users=users, interval=interval, max_duration=max_duration, rows=rows, corrupt=corrupt,
            restore=restore, metrics_port=metrics_port, reports_dir=reports_dir,
            workers=workers or common.default_workers(),
            annotate=lambda text, tags: annotate_quietly(text, tags, say))

    preflight.newest_version(models_dir, model_name)  # before any server starts
    if against == "running":
        _finish(swap.run(options(host.rstrip("/"), grpc_target, models_dir, restore=True)), fail_if)
        return
    with common.models_root(models_dir, model_name, in_place) as models:
        log = reports_dir / ".swap-server.log"  # into the run's folder once it exists
        server = common.start_server(common.server_flags(models, batching=True, poll_seconds=1), log)
        try:  # the server's copy goes with it: nothing to restore unless the versions are yours (--in-place)
            summary = swap.run(options(server.rest_url, server.grpc_target, models, restore=in_place))
        finally:
            server.stop()
    log.rename(Path(summary["run_dir"]) / "server.log")
    _finish(summary, fail_if)


@loadtest_group.command("rollout")
@click.option("--to-version", type=click.IntRange(1), default=None,
              help="version the new replicas serve (default: the newest published)")
@click.option("--image", default=None, help="server image of the new replicas (default: TFSERVING_IMAGE)")
@click.option("--users", type=click.IntRange(1), default=8, show_default=True, help="concurrent users")
@click.option("--protocol", type=PROTOCOL, default="both", show_default=True,
              help="rest, grpc, or both (the users split between the two)")
@click.option("--settle", type=click.FloatRange(1), default=5, show_default=True,
              help="seconds of steady load before the first and after the last replacement")
@click.option("--ready-timeout", type=click.FloatRange(5), default=300, show_default=True,
              help="seconds for each new replica to load its model; one that does not is removed and the run fails")
@click.option("--max-duration", type=click.FloatRange(30), default=900, show_default=True,
              help="upper bound of the whole run in seconds")
@_balancer
@_common
def rollout_command(to_version: int | None, image: str | None, users: int, protocol: str, settle: float,
                    ready_timeout: float, max_duration: float, host: str, grpc_target: str, model_name: str,
                    rows: int, metrics_port: int, reports_dir: Path, workers: int | None,
                    fail_if: list[thresholds.Threshold]) -> None:
    """Replace the scale-out stack's replicas one by one under load (`REPLICAS=3 make serve`
    first): each new one AVAILABLE and taking traffic before an old one is drained and stopped; no
    request may fail."""
    from tfserving_stack import rolling

    from ..loadtest.scenarios import common

    _finish(rolling.run(settings.project(), rolling.RolloutOptions(
        host=host.rstrip("/"), grpc_target=grpc_target, model_name=model_name, to_version=to_version, image=image,
        users=users, protocol=protocol, settle=settle, ready_timeout=ready_timeout, max_duration=max_duration, rows=rows,
        workers=workers or common.default_workers(), metrics_port=metrics_port, reports_dir=reports_dir,
    )), fail_if)


@loadtest_group.command("scale")
@click.option("--counts", default="1,3", show_default=True, callback=_levels, help="replica counts to compare")
@click.option("--rounds", type=click.IntRange(1), default=2, show_default=True,
              help="times each count is measured, alternating (1,3,1,3)")
@click.option("--level-seconds", type=click.FloatRange(2), default=20, show_default=True, help="seconds per level")
@click.option("--users", type=click.IntRange(1), default=16, show_default=True, help="concurrent users")
@click.option("--protocol", type=PROTOCOL, default="both", show_default=True,
              help="rest, grpc, or both (the users split between the two)")
@_balancer
@_common
def scale_command(counts: tuple[int, ...], rounds: int, level_seconds: float, users: int, protocol: str, host: str,
                  grpc_target: str, model_name: str, rows: int, metrics_port: int, reports_dir: Path,
                  workers: int | None, fail_if: list[thresholds.Threshold]) -> None:
    """Throughput and latency at several replica counts of the scale-out stack, side by side in one run."""
    from tfserving_stack import scale
    from tfserving_stack.replicas import MAX_REPLICAS

    from ..loadtest.scenarios import common

    if max(counts) > MAX_REPLICAS:
        raise click.BadParameter(f"at most {MAX_REPLICAS} replicas (the balancer's slots)", param_hint="--counts")
    _finish(scale.run(settings.project(), scale.ScaleOptions(
        host=host.rstrip("/"), grpc_target=grpc_target, model_name=model_name, counts=counts, rounds=rounds,
        level_seconds=level_seconds, users=users, protocol=protocol, rows=rows,
        workers=workers or common.default_workers(), metrics_port=metrics_port, reports_dir=reports_dir,
    )), fail_if)


@click.command("bench")
@model_name_option("model to serve (MODEL_NAME in .env)")
@models_dir_option("published models (the newest version is benchmarked)")
@click.option("--artifacts-dir", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True,
              help="Where train wrote model.keras (the naive baseline serves it).")
@click.option("--batching-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              default=Path("compose/batching.conf"), show_default=True)
@click.option("--seconds", type=click.FloatRange(0.5), default=5.0, show_default=True, help="Measurement time per cell.")
@click.option("--skip-naive", is_flag=True, help="Leave out the naive baseline.")
@click.option("--levels", default="1,16,64", show_default=True, callback=_levels, help="concurrent clients per cell")
@click.option("--rows", type=click.IntRange(1), default=1, show_default=True, help="rows (examples) per request")
@click.option("--ranking-rows", default="50,200", show_default=True, callback=_sizes,
              help="rows per request of the extra ranking-size cells (batching on, top level); '' for none")
@click.option("--load-paths/--no-load-paths", default=True, show_default=True,
              help="Also measure CPU per model call, Session path against tf.saved_model.load, thread flags 1 and default.")
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True,
              help="Runs of every served cell; the tables give their medians and spreads.")
@click.option("--baseline", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
              callback=_baseline,
              help="Folder holding another release's embedded_tfserving (an unpacked wheel): its server runs "
                   "beside this one, batching on, and every run measures both.")
@click.option("--profile/--no-profile", default=True, show_default=True,
              help="Record the batching-on server with py-spy under each protocol's load (needs ptrace rights: root).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Write the cells and ratios as JSON here (default: reports/<time>-bench/bench.json).")
def bench_command(model_name: str, models_dir: Path, artifacts_dir: Path, batching_file: Path, seconds: float,
                  skip_naive: bool, levels: tuple[int, ...], rows: int, ranking_rows: tuple[int, ...],
                  load_paths: bool, repeats: int, profile: bool, baseline: Path | None, output: Path | None) -> None:
    """Benchmark in-process, embedded REST/gRPC (batching off/on), each protocol's floor and a naive
    server side by side, with the server's CPU per request, over several runs; the model's load
    paths; and a profile of the server under load (the toolkit's bench, on this project's servers,
    requests and schema)."""
    import sys

    from tfserving_loadtest.bench import run as bench
    from tfserving_loadtest.run_dirs import run_dir_path

    from ..data.schema import CATEGORICAL, DENSE, load_schema
    from ..data.synthetic import generate
    from ..loadtest import REQUESTS
    from ..loadtest.scenarios import common
    from ..settings import PROJECT_ROOT

    keras_model = artifacts_dir / "model.keras"
    if not skip_naive and not keras_model.is_file():
        raise LoadTestError(f"{keras_model} not found; run `make train` or pass --skip-naive")

    def inputs(rows: int) -> dict[str, Any]:
        features = generate(load_schema(), rows, seed=7)
        return {DENSE: features.dense, CATEGORICAL: features.categorical.astype(object)}

    options = bench.BenchOptions(
        model_name=model_name, base_path=models_dir / model_name, requests=REQUESTS,
        output=output or run_dir_path(Path("reports"), "bench") / "bench.json",
        # The flags `make serve` gives the server (compose's tfserving command), on this models folder.
        server_flags=lambda file: common.server_flags(models_dir.resolve(), batching=file is not None,
                                                      batching_file=file),
        batching_file=batching_file, inputs=inputs,
        naive_command=None if skip_naive else [sys.executable, "-m", "{{ cookiecutter.package_name }}.loadtest.naive_app",
                                               str(keras_model.resolve())],
        cwd=PROJECT_ROOT, seconds=seconds, levels=levels, rows=rows, ranking_rows=ranking_rows,
        load_paths=load_paths, repeats=repeats, profile=profile, baseline=baseline,
        say=lambda line: click.echo(line, err=True))
    text = bench.text(bench.run(options), options)
    options.output.with_suffix(".txt").write_text(text + "\n")
    click.echo(text)
    click.echo(f"\nwritten: {options.output}, {options.output.with_suffix('.txt')}")


@click.command("soak")
@model_name_option("model to serve (MODEL_NAME in .env)")
@models_dir_option("published models (the newest version is served)")
@click.option("--duration", type=click.FloatRange(0, 3600, min_open=True), default=120, show_default=True,
              help="Seconds of load.")
@click.option("--interval", type=click.FloatRange(0.5), default=10, show_default=True, help="Seconds per reported interval.")
@click.option("--fault-every", type=click.FloatRange(0.5), default=20, show_default=True,
              help="Seconds between faults (alternately: publish a new version, a burst of malformed requests).")
@click.option("--clients", type=click.IntRange(1, 64), default=4, show_default=True,
              help="REST clients, and as many gRPC clients.")
@click.option("--batching-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=Path("compose/batching.conf"), show_default=True)
@click.option("--output", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Report folder (default: reports/<time>-soak/).")
def soak_command(model_name: str, models_dir: Path, duration: float, interval: float, fault_every: float,
                 clients: int, batching_file: Path, output: Path | None) -> None:
    """Bounded soak on loopback: embedded server, mixed REST+gRPC load, periodic faults; JSON report."""
    import shutil

    from embedded_tfserving.process import ServerProcess
    from tfserving_loadtest.run_dirs import run_dir_path
    from tfserving_loadtest.scenarios import soak

    from ..loadtest import REQUESTS, preflight

    newest = preflight.newest_version(models_dir, model_name)
    out_dir = output or run_dir_path(Path("reports"), "soak")
    served = out_dir / "models" / model_name  # the faults publish into this copy, never into models_dir
    shutil.copytree(newest, served / "1")
    flags = ["--port=0", f"--model_name={model_name}", f"--model_base_path={served.resolve()}",
             "--file_system_poll_wait_seconds=1", "--max_num_load_retries=0", "--enable_batching",
             f"--batching_parameters_file={batching_file.resolve()}"]
    click.echo(f"serving {model_name} version {newest.name} as a copy in {served}", err=True)
    with ServerProcess(flags, out_dir / "server.log") as server:  # plain loopback: no TLS, no keys
        server.start()
        result = soak.run(soak.SoakOptions(
            rest_url=server.rest_url, grpc_target=server.grpc_target, model_name=model_name, base_path=served,
            requests=REQUESTS, out_dir=out_dir, seconds=duration, interval=interval, fault_every=fault_every,
            clients=clients, server_pid=server.pid, restore=False, echo=lambda line: click.echo(line, err=True)))
        code = server.stop()
    soak.finish(result, out_dir, click.echo)
    if code != 0:
        raise LoadTestError(f"the server exited with code {code} after the soak: see {out_dir / 'server.log'}")
