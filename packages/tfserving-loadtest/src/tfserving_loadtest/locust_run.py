"""One headless Locust run as a subprocess: its command, progress, CPU watch and results."""

from __future__ import annotations

import csv
import json
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from embedded_tfserving.process import ChildProcess

from .resources import LOCUST_CPU_LIMIT, TreeCpuSampler

# protocol -> the locustfile's user classes; "both" splits the users between REST and gRPC.
USER_CLASSES = {"rest": ["RestUser"], "grpc": ["GrpcUser"], "both": ["RestUser", "GrpcUser"]}
RATE_USER_CLASSES = {"rest": ["RestRateUser"], "grpc": ["GrpcRateUser"], "both": ["RestRateUser", "GrpcRateUser"]}
CPU_WARNING = "CPU usage above"  # the start of Locust's own warning in its log
LOCUSTFILE = Path(__file__).with_name("locustfile.py")  # the toolkit's users, for any model
# The locustfile runs use unless told otherwise, and the folder Locust runs in (also put on its
# PYTHONPATH); a project sets its own with use_locustfile.
_default: dict[str, Path | None] = {"locustfile": LOCUSTFILE, "cwd": None}


def use_locustfile(locustfile: Path, cwd: Path | None = None) -> None:
    """Runs that name no locustfile run this one, in `cwd` (e.g. a project's own, from its root)."""
    _default.update(locustfile=locustfile, cwd=cwd)


@dataclass
class LocustRun:
    label: str  # file prefix and progress label, e.g. "on-16users"
    out_dir: Path
    host: str  # REST base URL
    model_name: str
    protocol: str = "rest"
    users: int = 1
    spawn_rate: float = 0.0  # 0: all users at once
    seconds: float = 10.0
    rows: int = 1
    workers: int = 1  # above 1: a Locust master and this many worker processes (Locust's --processes)
    grpc_target: str = ""
    metrics_port: int = 0
    metrics_addr: str = ""  # the exporter's address ("": --metrics-addr's default, loopback)
    shape_options: list[str] = field(default_factory=list)  # e.g. ["--shape", "step", "--step-users", "4"]
    request_log: bool = False
    arrival_rate: float = 0.0  # above 0: open loop at this many requests/s (users: how many may be in flight)
    arrivals: str = "poisson"
    user_classes: list[str] = field(default_factory=list)  # instead of the protocol's (e.g. GrpcCanaryUser)
    requests: str = ""  # where requests come from (sources.parse); "": the locustfile's default
    locustfile: Path = field(default_factory=lambda: _default["locustfile"] or LOCUSTFILE)
    cwd: Path | None = field(default_factory=lambda: _default["cwd"])  # Locust's folder, on its PYTHONPATH too

    def command(self) -> list[str]:
        prefix = self.out_dir / self.label
        command = [
            sys.executable, "-m", "locust", "-f", str(self.locustfile), "--headless", "--only-summary",
            "--host", self.host, "-u", str(self.users), "-r", str(self.spawn_rate or self.users),
            "-t", f"{math.ceil(self.seconds)}s", "--stop-timeout", "5",
            "--csv", str(prefix), "--csv-full-history", "--html", f"{prefix}.html",
            "--model-name", self.model_name, "--rows", str(self.rows),
            "--metrics-port", str(self.metrics_port), "--run-info", f"{prefix}-run-info.json",
            *self.shape_options,
        ]
        if self.requests:
            command += ["--requests", self.requests]
        if self.grpc_target:
            command += ["--grpc-target", self.grpc_target]
        if self.metrics_addr:
            command += ["--metrics-addr", self.metrics_addr]
        if self.request_log:
            command += ["--request-log", str(self.out_dir / f"{self.label}-requests")]
        if self.workers > 1:
            command += ["--processes", str(self.workers)]
        if self.arrival_rate:
            command += ["--arrival-rate", f"{self.arrival_rate:g}", "--arrivals", self.arrivals]
        if self.user_classes:
            return [*command, *self.user_classes]
        return [*command, *(RATE_USER_CLASSES if self.arrival_rate else USER_CLASSES)[self.protocol]]


@dataclass
class LocustResult:
    label: str
    users: int
    returncode: int
    interrupted: bool
    stats: dict[str, Any]  # the CSV's Aggregated row, numbers as numbers
    generator_cpu_peak: float  # percent of one core, highest of Locust's processes
    cpu_warning: bool  # Locust's own warning, or the peak above LOCUST_CPU_LIMIT
    log: Path
    request_logs: list[Path]
    workers: int  # Locust worker processes (1: a single process)
    worker_requests: dict[str, int]  # distributed runs: requests each worker reported to the master
    open_loop: dict[str, Any] | None = None  # open loop: target rate and the tally of sends (arrivals.Tally)

    @property
    def requests(self) -> int:
        return int(self.stats.get("Request Count", 0))

    @property
    def failures(self) -> int:
        return int(self.stats.get("Failure Count", 0))


def read_stats(stats_csv: Path) -> dict[str, dict[str, Any]]:
    """Request name -> its row of Locust's <prefix>_stats.csv, numbers as numbers ({} when Locust
    wrote none); the totals are under 'Aggregated'."""
    if not stats_csv.is_file():
        return {}
    with stats_csv.open() as file:
        return {row.get("Name", ""): {key: _number(value) for key, value in row.items()} for row in csv.DictReader(file)}


def read_aggregated(stats_csv: Path) -> dict[str, Any]:
    """The 'Aggregated' row of Locust's <prefix>_stats.csv ({} when Locust wrote none)."""
    return read_stats(stats_csv).get("Aggregated", {})


def _number(value: str) -> Any:
    try:
        return float(value) if any(c in value for c in ".eE") or value == "N/A" else int(value)
    except ValueError:
        return value


def run(spec: LocustRun, progress: Callable[[str], None] = print,
        stop_when: Callable[[], bool] | None = None) -> LocustResult:
    """Runs Locust to the end of spec.seconds (or until stop_when() is true, or Ctrl-C).

    Locust is stopped with SIGINT, which makes it write its CSV and HTML before exiting; Ctrl-C
    in the terminal reaches it directly, so here it only waits and then re-raises.
    """
    spec.out_dir.mkdir(parents=True, exist_ok=True)
    log = spec.out_dir / f"{spec.label}-locust.log"
    locust = ChildProcess(spec.command(), log, cwd=spec.cwd, env={"TF_CPP_MIN_LOG_LEVEL": "2"},
                          python_path=[spec.cwd] if spec.cwd else [], stop_signal=signal.SIGINT)
    locust.start()
    assert locust.pid is not None
    sampler = TreeCpuSampler(locust.pid)
    sampler.start()
    started, last_note, interrupted = time.monotonic(), 0.0, False
    try:
        while locust.poll() is None:
            elapsed = time.monotonic() - started
            if stop_when is not None and stop_when():
                locust.send_signal(signal.SIGINT)
                stop_when = None
            elif elapsed > spec.seconds + 120:  # Locust should have ended long ago: stop it
                locust.send_signal(signal.SIGINT)
            if elapsed - last_note >= 5:
                progress(f"  [{spec.label}] {max(0, spec.seconds - elapsed):.0f}s left")
                last_note = elapsed
            time.sleep(0.25)
    except KeyboardInterrupt:
        interrupted = True
        locust.send_signal(signal.SIGINT)
    finally:
        try:
            locust.wait(timeout=60)
        except psutil.TimeoutExpired:
            pass
        returncode = locust.stop()  # the exit code once it has ended, else SIGINT then SIGKILL
        peak = sampler.stop()
    result = _result(spec, -1 if returncode is None else returncode, interrupted, peak, log)
    if interrupted:
        raise Interrupted(result)
    return result


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run; carries what that run measured so the report can still be written."""

    def __init__(self, result: LocustResult) -> None:
        super().__init__()
        self.result = result


def _result(spec: LocustRun, returncode: int, interrupted: bool, peak: float, log: Path) -> LocustResult:
    run_info_file = spec.out_dir / f"{spec.label}-run-info.json"
    run_info = json.loads(run_info_file.read_text()) if run_info_file.is_file() else {}
    locust_warned = (CPU_WARNING in log.read_text(errors="replace") or run_info.get("cpu_warning")
                     or run_info.get("worker_cpu_warning"))
    return LocustResult(
        label=spec.label, users=spec.users, returncode=returncode, interrupted=interrupted,
        stats=read_aggregated(spec.out_dir / f"{spec.label}_stats.csv"),
        generator_cpu_peak=round(peak, 1),
        cpu_warning=bool(locust_warned) or peak > LOCUST_CPU_LIMIT,
        log=log,
        request_logs=sorted(spec.out_dir.glob(f"{spec.label}-requests-*.csv")),
        workers=spec.workers, worker_requests=run_info.get("worker_requests", {}),
        open_loop=run_info.get("open_loop"),
    )


# One request of a run with request_log: (time.time(), latency ms, 1 if ok else 0, served version or None).
Request = tuple[float, float, int, int | None]


def read_requests(paths: list[Path]) -> list[Request]:
    """Every request of a run's request logs, in time order."""
    rows = []
    for path in paths:
        with path.open() as file:
            for row in csv.DictReader(file):
                version = int(row["version"]) if row["version"] not in ("", "None") else None
                rows.append((float(row["time"]), float(row["latency_ms"]), int(row["ok"]), version))
    return sorted(rows)
