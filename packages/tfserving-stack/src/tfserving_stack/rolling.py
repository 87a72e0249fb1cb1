"""Rolling replacement of the scale-out stack's replicas under steady load (`make loadtest-rollout`).

One replica at a time: a new one starts (the newest model version, or another server image) and
must be AVAILABLE and receiving traffic from the balancer before an old one is drained there (no
new requests; those in flight finish) and then stopped. No request may fail. The balancer's
per-replica counts, sampled every second, show which replica answered when.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tfserving_loadtest import locust_run, plots, preflight, report, run_dirs
from tfserving_loadtest.alongside import Driver, run_alongside
from tfserving_loadtest.errors import LoadTestError
from tfserving_loadtest.report import say
from tfserving_loadtest.stats import percentile

from . import images, replicas, rollout
from .balancer import Balancer
from .project import Project, require_published_model

COLUMNS = ("old", "new", "started_s", "ready_s", "drained_s", "stopped_s", "exit_code", "requests", "failures",
           "p99_ms")


@dataclass
class RolloutOptions:
    host: str  # the balancer's REST URL
    grpc_target: str  # and gRPC address
    model_name: str
    to_version: int | None = None  # default: the newest published version
    image: str | None = None  # default: TFSERVING_IMAGE
    users: int = 8
    protocol: str = "both"
    settle: float = 5.0  # seconds of steady load before the first and after the last replacement
    ready_timeout: float = 300.0  # for each new replica to be AVAILABLE
    max_duration: float = 900.0
    rows: int = 1
    workers: int = 1
    metrics_port: int = 0
    reports_dir: Path = Path("reports")


@dataclass
class Replacement:
    old: str
    started: float  # time.time()
    new: str = ""
    ready: float | None = None  # the new replica took traffic
    drained: float | None = None  # the old one had nothing in flight
    stopped: float | None = None
    exit_code: int | None = None


class RolloutDriver(Driver):
    """Replaces the replicas that ran at the start, oldest first; `done` when finished or failed."""

    def __init__(self, project: Project, options: RolloutOptions, model_config: str, image: str,
                 old: list[rollout.Replica]) -> None:
        super().__init__()
        self.project, self.options, self.model_config, self.image, self.old = project, options, model_config, image, old
        self.balancer = Balancer.of(project)
        # (address, container, since): Docker hands a stopped replica's address to a later one.
        self.tenants = [(r.address, r.name, 0.0) for r in old]
        self.replacements: list[Replacement] = []

    def steps(self) -> None:
        before = self._answered()
        rollout.wait_until(lambda: self._answered() > before or self.cancel.is_set(), "the load reaching the balancer",
                           120)
        self.cancel.wait(self.options.settle)
        for old in self.old:
            if self.cancel.is_set():
                return
            self._replace(old)
        self.cancel.wait(self.options.settle)

    def _replace(self, old: rollout.Replica) -> None:
        step = Replacement(old=old.name, started=time.time())
        self.replacements.append(step)
        new = rollout.add_one(self.project, self.model_config, self.image, timeout=self.options.ready_timeout)
        step.new = new.name
        self.tenants.append((new.address, new.name, step.started))  # the address was free from then on
        rollout.wait_until(lambda: new.address in self.balancer.ready_addresses(),
                           f"the balancer sending traffic to {new.name}", 30)
        step.ready = time.time()
        slots = self.balancer.drain(old.address)
        rollout.wait_until(lambda: self.balancer.in_flight(old.address) == 0, f"{old.name}'s requests to finish", 60)
        step.drained = time.time()
        step.exit_code = rollout.remove(old)
        step.stopped = time.time()
        # Docker may give the next replica this address: the drained slots must be open by then.
        rollout.wait_until(lambda: old.address not in {s.address for s in self.balancer.servers()},
                           f"the balancer forgetting {old.name}", 30)
        self.balancer.reopen(slots)
        say(f"  replaced {old.name} by {new.name} (ready after {step.ready - step.started:.1f} s, old one stopped "
            f"with exit code {step.exit_code})")

    def _answered(self) -> int:
        return sum(s.answered for s in self.balancer.servers())

    def owner(self, address: str, t: float) -> str | None:
        """The container that had `address` at time t."""
        held = [name for a, name, since in self.tenants if a == address and since <= t]
        return held[-1] if held else None


class Sampler(threading.Thread):
    """Requests answered per replica address, from the balancer's counters, every second."""

    def __init__(self, balancer: Balancer) -> None:
        super().__init__(daemon=True)
        self.balancer = balancer
        # (time, {(backend, slot, address): requests sent there}): a slot's count goes on when DNS
        # gives it another replica, so counts are compared per slot and address.
        self.samples: list[tuple[float, dict[tuple[str, str, str], int]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                servers = self.balancer.servers()
            except Exception:  # a missed sample is a gap in the plot, not a failed run
                continue
            self.samples.append((time.time(), {(s.backend, s.name, s.address): s.answered for s in servers}))

    def per_second(self) -> dict[str, list[tuple[float, float]]]:
        """Address -> (time, requests/s) between consecutive samples."""
        series: dict[str, list[tuple[float, float]]] = {}
        for (t0, before), (t1, after) in zip(self.samples, self.samples[1:]):
            rates: dict[str, float] = {}
            for key, total in after.items():
                rates[key[2]] = rates.get(key[2], 0.0) + (total - before.get(key, total)) / (t1 - t0)
            for address, rate in rates.items():
                series.setdefault(address, []).append((t1, rate))
        return series


def run(project: Project, options: RolloutOptions) -> dict[str, Any]:
    old = rollout.running(project)
    if not old:
        raise LoadTestError("no replicas run: start the scale-out stack with `REPLICAS=3 make serve` (compose)")
    published = require_published_model(project)
    version = options.to_version or published[-1]
    if version not in published:
        raise LoadTestError(f"version {version} of {project.model_name} is not published under {project.models_dir}")
    image = options.image or project.setting("TFSERVING_IMAGE")
    for missing in images.unavailable({replicas.SERVICE: image}):
        raise LoadTestError(f"the new replicas' image {image} is neither here nor pullable ({missing.why}): build it, "
                            "or name another with --image; nothing was changed")
    preflight.check_rest(options.host, options.model_name)
    if options.protocol in ("grpc", "both"):
        preflight.check_grpc(options.grpc_target)
    run_dir = run_dirs.new_run_dir(options.reports_dir, "rollout")
    say(f"rolling {len(old)} replicas to version {version} on {image} under {options.users} users "
        f"({options.protocol}) -> {run_dir}")
    driver = RolloutDriver(project, options, replicas.pin(project, version), image, old)
    sampler = Sampler(driver.balancer)
    spec = locust_run.LocustRun(
        label="rollout", out_dir=run_dir, host=options.host, model_name=options.model_name,
        protocol=options.protocol, users=options.users, seconds=options.max_duration, rows=options.rows,
        workers=options.workers, grpc_target=options.grpc_target, metrics_port=options.metrics_port,
        request_log=True,
    )
    started = time.time()
    sampler.start()
    try:
        # A replacement in progress finishes: a replica is never left drained.
        result, interrupted = run_alongside(spec, driver, finish_seconds=options.ready_timeout + 60)
    finally:
        sampler.stop.set()
    serving = {r.name: rollout.serves(project, r, version) for r in rollout.running(project)}
    requests = locust_run.read_requests(result.request_logs)
    start = requests[0][0] if requests else started
    analysis = analyse(driver.replacements, requests, start)
    failures = _failures(result, driver, serving, version, interrupted)
    return _write(options, run_dir, result, driver, sampler, serving, version, image, requests, start, analysis,
                  failures, interrupted)


def _failures(result: locust_run.LocustResult, driver: RolloutDriver, serving: dict[str, bool], version: int,
              interrupted: bool) -> list[str]:
    """The verdict: why the rollout failed (none: it passed)."""
    complete = [s for s in driver.replacements if s.stopped]
    failures = []
    if result.failures:
        failures.append(f"{result.failures} of {result.requests} requests failed during the rollout")
    if driver.error:
        failures.append(f"the rollout stopped early: {driver.error}")
    if len(complete) < len(driver.old) and not interrupted:
        failures.append(f"only {len(complete)} of {len(driver.old)} replicas were replaced")
    failures += [f"{name} does not serve version {version}" for name, ok in serving.items() if not ok]
    return failures


def _p99(latencies: list[float]) -> float | None:
    value = percentile(latencies, 0.99)
    return None if value is None else round(value, 2)


def analyse(steps: list[Replacement], requests: list[locust_run.Request], start: float) -> dict[str, Any]:
    """Per replacement (from the new replica's start to the old one's stop): requests, failures, p99;
    and p99 in steady state, outside every replacement."""
    rows = []
    for step in steps:
        end = step.stopped or (requests[-1][0] if requests else step.started)
        inside = [(ms, ok) for t, ms, ok, _ in requests if step.started <= t <= end]
        rows.append({
            "old": step.old, "new": step.new, "exit_code": step.exit_code,
            **{f"{name}_s": round(value - start, 2) if value else None
               for name, value in (("started", step.started), ("ready", step.ready), ("drained", step.drained),
                                   ("stopped", step.stopped))},
            "requests": len(inside), "failures": sum(1 for _, ok in inside if not ok),
            "p99_ms": _p99([ms for ms, _ in inside]),
        })
    steady = [ms for t, ms, _, _ in requests
              if not any(s.started <= t <= (s.stopped or float("inf")) for s in steps)]
    return {"replacements": rows, "steady_p99_ms": _p99(steady), "steady_requests": len(steady)}


def _write(options: RolloutOptions, run_dir: Path, result: locust_run.LocustResult, driver: RolloutDriver,
           sampler: Sampler, serving: dict[str, bool], version: int, image: str, requests: list[locust_run.Request],
           start: float, analysis: dict[str, Any], failures: list[str], interrupted: bool) -> dict[str, Any]:
    per_replica: dict[str, list[tuple[float, float]]] = {}
    for address, series in sampler.per_second().items():
        for t, rps in series:
            if (name := driver.owner(address, t)) is not None:
                per_replica.setdefault(name, []).append((t, rps))
    answered = []
    for name, series in sorted(per_replica.items()):
        busy = [t for t, rps in series if rps]
        if busy:
            answered.append({"replica": name, "requests": round(sum(rps for _, rps in series)),
                             "first_s": round(busy[0] - start, 1), "last_s": round(busy[-1] - start, 1)})
    row = report.run_row(result, protocol=options.protocol)
    warning = report.generator_warning([row])
    summary = {
        "scenario": "rollout", "interrupted": interrupted, "passed": not failures and not interrupted,
        "failures_found": failures, "config": {k: str(v) for k, v in vars(options).items()},
        "version": version, "image": image, "runs": [row], "requests": result.requests, "failures": result.failures,
        **analysis, "answered_by": answered, "serving_at_end": serving,
        "generator_bottleneck": bool(warning), "warnings": [warning] if warning else [],
    }
    markers = [(r["started_s"], f"start {r['new'].rsplit('-', 1)[-1]}", "green") for r in analysis["replacements"]]
    markers += [(r["drained_s"], f"drain {r['old'].rsplit('-', 1)[-1]}", "orange")
                for r in analysis["replacements"] if r["drained_s"] is not None]
    relative = [(t - start, ms, ok, v) for t, ms, ok, v in requests]
    images = [
        plots.throughput_timeline(relative, markers, run_dir / "throughput_timeline.png"),
        plots.latency_timeline(relative, markers, run_dir / "latency_timeline.png",
                               "Latency during the rollout (green: a replica starts, orange: one is drained)"),
        plots.replica_timeline({name: [(t - start, rps) for t, rps in series] for name, series in per_replica.items()},
                               markers, run_dir / "replicas_timeline.png"),
    ]
    whole = [{"label": "steady state (outside replacements)", "requests": analysis["steady_requests"],
              "p99_ms": analysis["steady_p99_ms"]},
             {"label": "whole run", "requests": result.requests, "failures": result.failures, "rps": row["rps"],
              "p99_ms": row["p99_ms"]}]
    return report.publish(run_dir, summary, report.Page(
        f"Rolling replacement to version {version} under load",
        [("Replacements", analysis["replacements"], COLUMNS),
         ("Whole run", whole, ("label", "requests", "failures", "rps", "p99_ms")),
         ("Which replica answered (balancer counts)", answered, ("replica", "requests", "first_s", "last_s"))],
        images, notes=summary["warnings"], failures=failures,
        terminal=[report.table(analysis["replacements"], COLUMNS),
                  f"steady-state p99 {analysis['steady_p99_ms']} ms; {result.requests} requests, {result.failures} failed",
                  *report.warnings(summary["warnings"])]))
