"""A canary rollout on a running server: load a candidate version beside the stable one, send it a
share of the traffic, judge it in Prometheus, then promote or roll back.

Every step is a rewrite of the models.config the server polls (--model_config_file), picked up
on its next poll, no restart:
1. pin the model to {stable, candidate} with label stable -> stable, and wait for the candidate to
   load (a candidate that fails to load is rolled back there);
2. add label canary -> candidate (a label may only name a version that is AVAILABLE);
3. open-loop load (GrpcCanaryUser): --share of the requests name label canary, the rest stable;
4. read each label's error ratio and p99 over the window from Prometheus (canary_policy.py);
5. promote: stable -> candidate, the old stable kept loaded for a quick rollback; or roll back:
   pinned to the old stable alone, which unloads the candidate. Too little traffic to judge rolls
   back too: nothing unproven goes live.
Clients that name no version get the newest loaded version, which during a canary is the
candidate: production clients name the label `stable`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import access, arrivals, locust_run, model_config, preflight, report, run_dirs, versions
from .. import canary_policy as canary
from ..alongside import Driver, run_alongside
from ..canary_policy import CANARY, STABLE
from ..errors import CanaryError
from ..report import say
from ..versions import AVAILABLE

CANARY_LOCUSTFILE = Path(__file__).resolve().parent.parent / "canary_locustfile.py"

COLUMNS = ("route", "requests", "failures", "error_ratio", "p99_ms")
LOCUST_COLUMNS = ("route", "requests", "failures", "p99_ms")
TIMELINE_COLUMNS = ("at_s", "step")


@dataclass
class CanaryOptions:
    config_path: Path  # the models.config the server polls
    base_path: Path  # the model's versions, as numbered folders
    model_name: str
    rest_url: str
    grpc_target: str
    prometheus: str
    requests: str = ""  # sources.parse; "": the locustfile's default
    slo_ms: float = 100.0  # the latency objective: how many requests may be in flight (arrivals.users_for)
    locustfile: Path = CANARY_LOCUSTFILE  # one with GrpcCanaryUser (a project's adds its own defaults)
    candidate: int | None = None  # None: the newest published version
    rate: float = 100.0  # requests/s, open loop, over both labels
    share: float = 0.2  # of the requests to the canary
    window: float = 60.0  # seconds judged
    warmup: float | None = None  # seconds of load before the window (None: two scrape intervals + 2 s)
    users: int = 0  # 0: from the rate and the SLO (arrivals.users_for)
    workers: int = 1
    thresholds: canary.Thresholds = field(default_factory=canary.Thresholds)
    apply_timeout: float = 120.0  # seconds for the server to apply each config
    metrics_port: int = 0
    reports_dir: Path = Path("reports")


class Timeline:
    def __init__(self) -> None:
        self.start = time.time()
        self.steps: list[dict[str, Any]] = []

    def __call__(self, step: str) -> None:
        self.steps.append({"at_s": round(time.time() - self.start, 1), "step": step})
        say(f"  {step}")


def run(options: CanaryOptions) -> dict[str, Any]:
    """Checks that change nothing come first; from the first config write on, any failure or Ctrl-C
    puts the old stable back alone."""
    preflight.check_rest(options.rest_url, options.model_name)
    preflight.check_grpc(options.grpc_target)
    if not options.metrics_port:
        raise CanaryError("the canary needs the load generator's metrics in Prometheus: give --metrics-port, "
                          "the port that Prometheus's `loadtest` job scrapes")
    config = model_config.read(options.config_path)
    states = versions.states(options.rest_url, options.model_name)
    candidate = _candidate(options)
    stable = _stable(config, options.model_name, states, candidate)
    scraping = canary.require_prometheus(options.prometheus) if stable is not None else None
    run_dir = run_dirs.new_run_dir(options.reports_dir, "canary")
    (run_dir / "models.config.before").write_text(options.config_path.read_text())
    timeline = Timeline()
    if stable is None:
        return _first_version(options, config, candidate, run_dir, timeline)
    assert scraping is not None
    say(f"canary: version {candidate} beside stable version {stable}, {options.share:.0%} of {options.rate:g} "
        f"requests/s for a {options.window:g}s window -> {run_dir}")
    settled = False
    try:
        summary = _canary(options, config, stable, candidate, scraping, run_dir, timeline)
        settled = True
    finally:
        if not settled:  # an error or Ctrl-C mid-way: the old stable alone, as before the canary
            _apply(options, model_config.pinned(config, options.model_name, [stable], {STABLE: stable}),
                   f"the canary stopped mid-way: version {stable} alone, as before", timeline)
    return summary


def _candidate(options: CanaryOptions) -> int:
    published = versions.published(options.base_path)
    if not published:
        raise CanaryError(f"no version published under {options.base_path}: publish the candidate there first")
    candidate = options.candidate if options.candidate is not None else max(published)
    if candidate not in published:
        raise CanaryError(f"version {candidate} is not published under {options.base_path} "
                          f"(published: {', '.join(map(str, sorted(published)))})")
    return candidate


def _stable(config: Any, name: str, states: dict[int, dict[str, Any]], candidate: int) -> int | None:
    """The label `stable` of the config; without one, the newest version serving now other than the
    candidate; None when there is none (the first version)."""
    serving = versions.available(states)
    stable = model_config.labels(config, name).get(STABLE)
    if stable is None:
        others = serving - {candidate}
        return max(others) if others else None
    if stable == candidate:
        raise CanaryError(f"version {candidate} is already the stable version: publish a new one "
                          "or name another candidate")
    if stable not in serving:
        raise CanaryError(f"the stable version {stable} (models.config's label) is not AVAILABLE on the server: "
                          "see its status (GET /v1/models/<name>) and its log")
    return stable


def _first_version(options: CanaryOptions, config: Any, candidate: int, run_dir: Path,
                   timeline: Timeline) -> dict[str, Any]:
    """Nothing serves yet to compare with: the version goes live as the first stable."""
    say(f"no stable version to compare with: version {candidate} becomes the first stable version")
    _apply(options, model_config.pinned(config, options.model_name, [candidate], {STABLE: candidate}),
           f"canary: version {candidate} is the first stable version", timeline)
    _wait_label(options, STABLE, candidate, timeline)
    decision = canary.Decision(canary.PROMOTE, ["first version: nothing to compare with"], decided=True)
    return _write(options, run_dir, timeline, None, candidate, decision, {}, [], None)


def _canary(options: CanaryOptions, config: Any, stable: int, candidate: int, scraping: canary.Scraping,
            run_dir: Path, timeline: Timeline) -> dict[str, Any]:
    name, both = options.model_name, [stable, candidate]
    _apply(options, model_config.pinned(config, name, both, {STABLE: stable}),
           f"canary: version {candidate} loading beside stable version {stable}", timeline)
    _wait_label(options, STABLE, stable, timeline)
    failed = _wait_loaded(options, candidate, timeline)
    if failed:
        decision = canary.Decision(canary.ROLLBACK, [f"version {candidate} failed to load: {failed}"], decided=True)
        return _settle(options, config, stable, candidate, decision, run_dir, timeline, {}, [], None)
    _apply(options, model_config.pinned(config, name, both, {STABLE: stable, CANARY: candidate}),
           f"canary: label canary -> version {candidate}, stable -> {stable}", timeline)
    _wait_label(options, CANARY, candidate, timeline)

    warmup = options.warmup if options.warmup is not None else 2 * scraping.interval_s + 2
    judge = Judge(options, scraping.interval_s, warmup)
    # Prometheus in Docker reaches the exporter through host.docker.internal, not loopback.
    result = _load(options, run_dir, judge, timeline, "0.0.0.0" if scraping.from_outside else "")
    if judge.figures is None:
        raise CanaryError(f"no figures for the window: {judge.error or 'the load ended first'}")
    decision = canary.decide(judge.figures[STABLE], judge.figures[CANARY], options.thresholds)
    return _settle(options, config, stable, candidate, decision, run_dir, timeline, judge.figures,
                   _locust_rows(result), result, judge.range_s)


class Judge(Driver):
    """Reads the window's figures from Prometheus while the load still runs: the load generator's
    exporter goes with Locust, so a read after the run would lose what its last scrape missed."""

    def __init__(self, options: CanaryOptions, scrape_s: float, warmup: float) -> None:
        super().__init__()
        self.options, self.scrape_s, self.warmup = options, scrape_s, warmup
        self.figures: dict[str, canary.Arm] | None = None
        self.range_s = 0.0

    def steps(self) -> None:
        exporter = f"http://127.0.0.1:{self.options.metrics_port}/metrics"
        deadline = time.monotonic() + 120
        while not self.cancel.is_set() and not preflight.answers(exporter):
            if time.monotonic() > deadline:
                raise CanaryError(f"the load generator's metrics never answered at {exporter}")
            self.cancel.wait(0.5)
        # After the warm-up, Prometheus has scraped the routes at least once: the window's counts
        # start from a sample, not from a series' birth.
        if self.cancel.wait(self.warmup):
            return
        start = time.time()
        # The window, then one scrape past its end, still under load.
        if self.cancel.wait(self.options.window + self.scrape_s + 1):
            return
        at = time.time()
        self.range_s = at - start
        self.figures = canary.arms(self.options.prometheus, self.range_s, at)


def _load(options: CanaryOptions, run_dir: Path, judge: Judge, timeline: Timeline,
          metrics_addr: str) -> locust_run.LocustResult:
    users = options.users or arrivals.users_for(options.rate, options.slo_ms / 1000)
    timeline(f"load: {options.rate:g} requests/s ({options.share:.0%} to canary), at most {users} in flight; "
             f"{judge.warmup:g}s of warm-up, then the {options.window:g}s window")
    spec = locust_run.LocustRun(
        label="canary", out_dir=run_dir, host=options.rest_url, model_name=options.model_name, protocol="grpc",
        users=users, workers=options.workers, grpc_target=options.grpc_target, metrics_port=options.metrics_port,
        metrics_addr=metrics_addr, arrival_rate=options.rate, user_classes=["GrpcCanaryUser"],
        locustfile=options.locustfile, requests=options.requests,
        shape_options=["--canary-share", f"{options.share:g}"],
        # An upper bound: the judge ends the run once it has read the window.
        seconds=judge.warmup + options.window + judge.scrape_s + 120,
    )
    result, interrupted = run_alongside(spec, judge, finish_seconds=15)
    if interrupted:
        raise KeyboardInterrupt
    timeline(f"load done; Prometheus read over the last {judge.range_s:.0f}s of it")
    if not result.stats:
        raise CanaryError(f"Locust wrote no statistics (exit code {result.returncode}); see its log {result.log}")
    return result


def _settle(options: CanaryOptions, config: Any, stable: int, candidate: int, decision: canary.Decision,
            run_dir: Path, timeline: Timeline, figures: dict[str, canary.Arm], locust_rows: list[dict[str, Any]],
            result: locust_run.LocustResult | None, range_s: float = 0.0) -> dict[str, Any]:
    name = options.model_name
    if decision.action == canary.PROMOTE:
        # The old stable stays loaded: rolling back later is a label move, not a load.
        _apply(options, model_config.pinned(config, name, [stable, candidate], {STABLE: candidate}),
               f"canary: promoted version {candidate} (previous stable {stable} kept loaded)", timeline)
        _wait_label(options, STABLE, candidate, timeline)
    else:
        _apply(options, model_config.pinned(config, name, [stable], {STABLE: stable}),
               f"canary: rolled back version {candidate}; version {stable} stays stable", timeline)
        _wait_unloaded(options, candidate, timeline)
    return _write(options, run_dir, timeline, stable, candidate, decision, figures, locust_rows, result, range_s)


# --- the server's side ----------------------------------------------------------------------------

def _apply(options: CanaryOptions, config: Any, note: str, timeline: Timeline) -> None:
    model_config.write(options.config_path, config, f"{note}\n(written {time.strftime('%Y-%m-%d %H:%M:%S')}; "
                       "the canary's report keeps the one before it)")
    timeline(f"models.config: {note.removeprefix('canary: ')}")


def _deadline(options: CanaryOptions) -> float:
    return time.monotonic() + options.apply_timeout


def _wait_label(options: CanaryOptions, label: str, version: int, timeline: Timeline) -> None:
    """Until the server resolves `label` to `version`: it applied the config. Asked with
    GetModelMetadata, whose reply names the version, so a candidate that fails every prediction
    can still be seen behind its label."""
    import grpc
    from tensorflow_serving.apis import get_model_metadata_pb2, prediction_service_pb2_grpc

    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = options.model_name
    request.model_spec.version_label = label
    client = access.current()
    stub = prediction_service_pb2_grpc.PredictionServiceStub(client.grpc_channel(options.grpc_target))
    deadline, answer = _deadline(options), ""
    while time.monotonic() < deadline:
        try:
            served = stub.GetModelMetadata(request, timeout=10, metadata=client.grpc_metadata()).model_spec.version.value
            if served == version:
                timeline(f"label {label} -> version {version} answers")
                return
            answer = f"version {served} answered"
        except grpc.RpcError as error:  # the label is not applied yet
            answer = f"{error.code().name}: {error.details()}"
        time.sleep(0.5)
    raise CanaryError(f"the server did not apply models.config within {options.apply_timeout:.0f}s (label {label} "
                      f"should name version {version}; last answer: {answer}). Its poll period is "
                      "--model_config_file_poll_wait_seconds; see its log")


def _wait_loaded(options: CanaryOptions, version: int, timeline: Timeline) -> str:
    """'' once `version` is AVAILABLE; the error when it failed to load (or did not load in time)."""
    deadline, entry = _deadline(options), {}
    while time.monotonic() < deadline:
        entry = versions.states(options.rest_url, options.model_name).get(version, {})
        error = entry.get("status", {}).get("error_code", "OK")
        if entry.get("state") == AVAILABLE:
            timeline(f"version {version} AVAILABLE")
            return ""
        if error not in ("OK", 0, ""):
            timeline(f"version {version} failed to load")
            return f"{error}: {entry.get('status', {}).get('error_message', '')}"
        time.sleep(0.5)
    return f"not AVAILABLE within {options.apply_timeout:.0f}s (status: {entry or 'unknown to the server'})"


def _wait_unloaded(options: CanaryOptions, version: int, timeline: Timeline) -> None:
    deadline = _deadline(options)
    while time.monotonic() < deadline:
        if version not in versions.available(versions.states(options.rest_url, options.model_name)):
            timeline(f"version {version} unloaded")
            return
        time.sleep(0.5)
    raise CanaryError(f"version {version} still serves {options.apply_timeout:.0f}s after the rollback was written "
                      "to models.config: see the server's log")


# --- the report -----------------------------------------------------------------------------------

def _locust_rows(result: locust_run.LocustResult) -> list[dict[str, Any]]:
    """Locust's own count per label over the whole run (warm-up included): exact, unlike the
    window's increase() in Prometheus, which extrapolates between scrapes."""
    rows = locust_run.read_stats(result.log.parent / f"{result.label}_stats.csv")
    return [{"route": name.removeprefix("Predict "), "requests": row["Request Count"], "failures": row["Failure Count"],
             "p99_ms": row["99%"] if isinstance(row["99%"], (int, float)) else None}
            for name, row in rows.items() if name.startswith("Predict ")]


def _write(options: CanaryOptions, run_dir: Path, timeline: Timeline, stable: int | None, candidate: int,
           decision: canary.Decision, figures: dict[str, canary.Arm], locust_rows: list[dict[str, Any]],
           result: locust_run.LocustResult | None, range_s: float = 0.0) -> dict[str, Any]:
    prometheus_rows = canary.rows(figures)
    stable_failures = next((row["failures"] for row in locust_rows if row["route"] == STABLE), 0)
    summary = {
        "scenario": "canary", "decision": decision.action, "decided": decision.decided, "reasons": decision.reasons,
        "stable_version": stable, "candidate_version": candidate,
        "serving_stable": candidate if decision.action == canary.PROMOTE else stable,
        "window_s": options.window, "prometheus_range_s": round(range_s, 1), "thresholds": asdict(options.thresholds),
        "prometheus": prometheus_rows, "locust": locust_rows, "stable_failures": stable_failures,
        "timeline": timeline.steps,
        "runs": [report.run_row(result, protocol="grpc")] if result else [],
        "config": {k: str(v) for k, v in vars(options).items()},
        "passed": decision.action == canary.PROMOTE,
    }
    verdict = (f"{decision.action}: version {candidate}" + ("" if decision.decided else " (too little traffic to judge)")
               + f"; stable is now version {summary['serving_stable']}")
    return report.publish(run_dir, summary, report.Page(
        f"Canary of version {candidate}",
        [(f"Prometheus, the last {range_s:.0f}s of load (the window and one scrape past it)", prometheus_rows, COLUMNS),
         ("Locust, the whole run", locust_rows, LOCUST_COLUMNS),
         ("Steps", timeline.steps, TIMELINE_COLUMNS)],
        notes=[verdict, *decision.reasons] if decision.action == canary.PROMOTE else [verdict],
        failures=decision.reasons if decision.action != canary.PROMOTE else [],
        terminal=[*([report.table(prometheus_rows, COLUMNS)] if figures else []),
                  *(f"  {reason}" for reason in decision.reasons),
                  verdict.upper() if decision.action == canary.ROLLBACK else verdict]))
