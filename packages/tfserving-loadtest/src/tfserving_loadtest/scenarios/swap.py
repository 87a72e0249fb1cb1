"""Model versions swapped under steady gRPC load, on a server that polls the model's base path:
traffic must move, and no request may fail.

During the run: two new versions (copies of the newest one, published atomically), one rollback
(the original files republished under a new number) and one corrupt version (garbage
saved_model.pb), which must never take traffic. gRPC replies name the version that served, so
every move is read from the traffic itself. Afterwards the versions the run published are removed
and the server goes back to what it served (unless `restore` is off: a throwaway copy).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import locust_run, plots, preflight, report, run_dirs, versions
from ..alongside import Driver, run_alongside
from ..errors import LoadTestError
from ..report import say
from ..stats import percentile
from ..versions import AVAILABLE, END

COLUMNS = ("step", "version", "published_s", "available_s", "first_served_s", "moved", "p99_window_ms")
WINDOW = 2.0  # seconds either side of a swap counted as "around the swap"


@dataclass
class SwapOptions:
    rest_url: str
    grpc_target: str
    model_name: str
    base_path: Path  # the folder the server polls for this model's versions
    requests: str = ""  # sources.parse; "": the locustfile's default
    users: int = 8
    interval: float = 5.0  # seconds of traffic on each version before the next swap
    max_duration: float = 180.0
    rows: int = 1
    corrupt: bool = True
    restore: bool = True  # remove the versions published here afterwards, and wait for the earlier one
    metrics_port: int = 0
    reports_dir: Path = Path("reports")
    workers: int = 1
    # Marks each publish where people look (e.g. a Grafana annotation): (text, tags).
    annotate: Callable[[str, list[str]], None] | None = field(default=None, repr=False)


@dataclass
class Step:
    kind: str  # new | rollback | corrupt
    version: int
    published: float  # time.time()
    available: float | None = None
    status: dict[str, Any] = field(default_factory=dict)


class SwapDriver(Driver):
    """Publishes the versions while Locust runs; `done` once the last step has been observed."""

    def __init__(self, options: SwapOptions) -> None:
        super().__init__()
        self.options, self.base = options, options.base_path
        self.original = versions.newest(self.base)
        self.published: list[Step] = []

    def _announce(self, kind: str, version: int) -> None:
        text = f"{self.options.model_name}: {kind} version {version} published"
        if self.options.annotate is not None:
            self.options.annotate(text, ["swap", kind])

    def steps(self) -> None:
        self.cancel.wait(self.options.interval)  # steady traffic on the first version
        for kind in ("new", "new", "rollback"):
            if self.cancel.is_set():
                return
            source = self.original if kind == "rollback" else versions.newest(self.base)
            published = time.time()
            version = versions.publish_copy(source, self.base)
            step = Step(kind, version, published)
            self.published.append(step)
            self._announce(kind, version)
            say(f"  published version {version} ({kind}{', files of ' + self.original.name if kind == 'rollback' else ''})")
            step.status = self._wait(version, lambda s: s.get("state") == AVAILABLE)
            step.available = time.time()
            self.cancel.wait(self.options.interval)
        if self.options.corrupt and not self.cancel.is_set():
            self._corrupt()

    def _corrupt(self) -> None:
        staging = self.base / ".corrupt"  # not a number: the server ignores it until renamed
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(self.original, staging)
        (staging / "saved_model.pb").write_bytes(b"this is not a SavedModel")
        published = time.time()
        version = versions.publish_copy(staging, self.base)
        shutil.rmtree(staging, ignore_errors=True)
        step = Step("corrupt", version, published)
        self.published.append(step)
        self._announce("corrupt", version)
        say(f"  published corrupt version {version}")
        step.status = self._wait(version, lambda s: s.get("state") == END
                                 or s.get("status", {}).get("error_code", "OK") != "OK",
                                 must=False)
        self.cancel.wait(self.options.interval)

    def _wait(self, version: int, condition: Any, timeout: float = 90.0, must: bool = True) -> dict[str, Any]:
        deadline, status = time.monotonic() + timeout, {}
        while time.monotonic() < deadline and not self.cancel.is_set():
            status = versions.states(self.options.rest_url, self.options.model_name).get(version, {})
            if status and condition(status):
                return status
            time.sleep(0.2)
        if must:
            raise LoadTestError(f"version {version} did not become AVAILABLE within {timeout:.0f}s (status: {status})")
        return status


def _p99(latencies: list[float]) -> float | None:
    value = percentile(latencies, 0.99)
    return None if value is None else round(value, 2)


def analyse(steps: list[Step], requests: list[locust_run.Request], start: float) -> dict[str, Any]:
    """Per step: when its version first served, whether traffic moved to it, p99 around the swap."""
    versions_in_order: list[int] = []
    for _, _, ok, version in requests:
        if ok and version is not None and (not versions_in_order or versions_in_order[-1] != version):
            versions_in_order.append(version)
    rows, windows = [], []
    for i, step in enumerate(steps):
        served = [t for t, _, ok, v in requests if ok and v == step.version]
        first = served[0] if served else None
        if step.kind == "corrupt":
            moved = None
        else:
            # Moved: the last responses before the next step all came from this version.
            end = steps[i + 1].published if i + 1 < len(steps) else requests[-1][0] if requests else step.published
            tail = [v for t, _, ok, v in requests if ok and end - 1.0 <= t < end]
            moved = bool(first) and bool(tail) and all(v == step.version for v in tail)
        centre = first or step.available or step.published
        window = [ms for t, ms, _, _ in requests if abs(t - centre) <= WINDOW]
        windows.append(centre)
        rows.append({
            "step": step.kind, "version": step.version,
            "published_s": round(step.published - start, 2),
            "available_s": round(step.available - start, 2) if step.available else None,
            "first_served_s": round(first - start, 2) if first else None,
            "moved": moved, "p99_window_ms": _p99(window),
            "status": step.status,
        })
    steady = [ms for t, ms, _, _ in requests if all(abs(t - c) > WINDOW for c in windows)]
    return {"steps": rows, "served_versions_in_order": versions_in_order,
            "version_changes": max(0, len(versions_in_order) - 1), "steady_p99_ms": _p99(steady)}


def run(options: SwapOptions) -> dict[str, Any]:
    versions.newest(options.base_path)  # fail before creating a report folder
    preflight.check_rest(options.rest_url, options.model_name)
    preflight.check_grpc(options.grpc_target)
    before = set(versions.published(options.base_path))
    run_dir = run_dirs.new_run_dir(options.reports_dir, "swap")
    say(f"version swaps under {options.users} gRPC users on the server at {options.rest_url}, publishing into "
        f"{options.base_path} -> {run_dir}")
    try:
        return _swap(options, run_dir)
    finally:
        if options.restore:
            versions.restore(options.base_path, before, options.rest_url, options.model_name)


def _swap(options: SwapOptions, run_dir: Path) -> dict[str, Any]:
    started = time.time()
    driver = SwapDriver(options)
    spec = locust_run.LocustRun(
        label="swap", out_dir=run_dir, host=options.rest_url, model_name=options.model_name,
        protocol="grpc", users=options.users, seconds=options.max_duration, rows=options.rows,
        grpc_target=options.grpc_target, metrics_port=options.metrics_port, request_log=True,
        workers=options.workers, requests=options.requests,
    )
    # A publish in progress finishes before the folder goes.
    result, interrupted = run_alongside(spec, driver, finish_seconds=30)
    requests = locust_run.read_requests(result.request_logs)
    start = requests[0][0] if requests else started
    analysis = analyse(driver.published, requests, start)
    failures = _failures(analysis, result, driver, interrupted)
    return _write(options, run_dir, result, requests, start, analysis, failures, interrupted)


def _failures(analysis: dict[str, Any], result: Any, driver: SwapDriver, interrupted: bool) -> list[str]:
    """The verdict: why the run failed (none: it passed)."""
    swaps = [s for s in analysis["steps"] if s["step"] != "corrupt"]
    corrupt = next((s for s in analysis["steps"] if s["step"] == "corrupt"), None)
    failures = []
    if result.failures:
        failures.append(f"{result.failures} of {result.requests} requests failed during the swaps")
    if driver.error:
        failures.append(f"the swap sequence stopped early: {driver.error}")
    failures += [f"traffic did not move to version {s['version']} ({s['step']})" for s in swaps if not s["moved"]]
    if len(swaps) < 3 and not interrupted:
        failures.append(f"only {len(swaps)} swaps happened (3 expected)")
    if corrupt is not None and corrupt["first_served_s"] is not None:
        failures.append(f"corrupt version {corrupt['version']} served traffic")
    return failures


def _write(options: SwapOptions, run_dir: Path, result: Any, requests: list[locust_run.Request], start: float,
           analysis: dict[str, Any], failures: list[str], interrupted: bool) -> dict[str, Any]:
    corrupt = next((s for s in analysis["steps"] if s["step"] == "corrupt"), None)
    if corrupt is not None:
        corrupt["never_served"] = corrupt["first_served_s"] is None
    row = report.run_row(result, protocol="grpc")
    warning = report.generator_warning([row])
    summary = {
        "scenario": "swap", "interrupted": interrupted, "passed": not failures and not interrupted,
        "failures_found": failures,
        "config": {k: str(v) for k, v in vars(options).items() if k != "annotate"},
        "runs": [row], "requests": result.requests, "failures": result.failures,
        **analysis, "corrupt": corrupt,
        "generator_bottleneck": bool(warning), "warnings": [warning] if warning else [],
    }
    markers = [(s["first_served_s"] or s["published_s"], f"v{s['version']} {s['step']}",
                "red" if s["step"] == "corrupt" else "green") for s in analysis["steps"]]
    relative = [(t - start, ms, ok, v) for t, ms, ok, v in requests]
    images = [plots.latency_timeline(relative, markers, run_dir / "latency_timeline.png",
                                     "Latency during version swaps (dashed: version swaps)")]
    steady = [{"label": "steady state (outside swap windows)", "p99_ms": analysis["steady_p99_ms"],
               "requests": result.requests, "failures": result.failures,
               "version_changes": analysis["version_changes"]}]
    return report.publish(run_dir, summary, report.Page(
        "Version swaps under load",
        [("Swaps", analysis["steps"], COLUMNS),
         ("Whole run", steady, ("label", "requests", "failures", "version_changes", "p99_ms"))],
        images, notes=summary["warnings"], failures=failures,
        terminal=[report.table(analysis["steps"], COLUMNS),
                  f"steady-state p99 {analysis['steady_p99_ms']} ms; {result.requests} requests, {result.failures} "
                  f"failed; served versions in order: {analysis['served_versions_in_order']}",
                  *report.warnings(summary["warnings"])]))
