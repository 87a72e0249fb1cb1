"""Capacity at a latency objective: the highest arrival rate whose p99 stays within the SLO and
whose errors stay under a bound.

The rate doubles from a safe start until a probe fails, then the gap between the last passing
and the first failing rate is bisected down to `precision`. Each probe is one short open-loop
Locust run (latency counted from the due times, so an overloaded server cannot hide its queue);
the search itself takes the probe as a function and is tested without load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import arrivals, locust_run, report
from .report import say

PROBE_COLUMNS = ("label", "target_rps", "rps", "p50_ms", "p99_ms", "error_rate", "missed_send_rate", "users",
                 "generator_cpu_peak_percent", "passed", "reason")
# Share of sends a free user took more than arrivals.LATE_AFTER_S late, above which a failing probe
# is put down to the generator (its process did not get the CPU in time), not to the server.
GENERATOR_LATE_LIMIT = 0.05
MAX_RATE = 5000.0  # the highest rate a search probes unless told otherwise
# Locust start and stop around each probe's measured seconds, for time estimates.
PROBE_OVERHEAD_S = 4.0


@dataclass(frozen=True)
class Objective:
    slo_ms: float  # p99 at or below this
    max_error_rate: float = 0.001

    def check(self, row: dict[str, Any]) -> tuple[bool, str]:
        """(passed, why) for one probe's report row."""
        if not row.get("requests"):
            return False, "no request completed"
        p99, errors = row.get("p99_ms"), row.get("failures", 0) / row["requests"]
        if p99 is None or p99 > self.slo_ms:
            return False, f"p99 {p99} ms > {self.slo_ms:g} ms"
        if errors > self.max_error_rate:
            return False, f"error rate {errors:.4f} > {self.max_error_rate:g}"
        # Late sends need no rule of their own: their latency counts from the due time, so the p99 has them.
        return True, "within the objective"


@dataclass(frozen=True)
class SearchSpec:
    start_rate: float
    max_rate: float = MAX_RATE
    precision: float = 0.1  # stop once (first failing - last passing) / last passing is at most this
    max_probes: int = 12
    min_rate: float = 1.0


def next_rate(passed: float | None, failed: float | None, spec: SearchSpec) -> float | None:
    """The rate to probe next, given the highest passing and lowest failing rates so far; None when done."""
    if passed is None and failed is None:
        return spec.start_rate
    if failed is None:
        assert passed is not None
        return None if passed >= spec.max_rate else min(2 * passed, spec.max_rate)
    if passed is None:
        return None if failed / 2 < spec.min_rate else failed / 2
    if (failed - passed) / passed <= spec.precision:
        return None
    middle = (passed + failed) / 2
    return float(round(middle)) if middle >= 20 else round(middle, 1)


@dataclass
class Capacity:
    objective: Objective
    probes: list[dict[str, Any]] = field(default_factory=list)
    passed: float | None = None  # highest passing rate: the capacity
    failed: float | None = None  # lowest failing rate

    @property
    def generator_limited(self) -> bool:
        """True when the first failing probe failed because the generator, not the server, fell behind."""
        first_fail = next((p for p in self.probes if p["target_rps"] == self.failed), None)
        return bool(first_fail and (first_fail.get("generator_bottleneck")
                                    or first_fail.get("generator_late_rate", 0) > GENERATOR_LATE_LIMIT))

    def summary(self) -> dict[str, Any]:
        best = next((p for p in self.probes if p["target_rps"] == self.passed), None)
        if self.passed is None:
            note = "no probed rate met the objective"
        elif self.failed is None:
            note = f"every probed rate met the objective: capacity is at least {self.passed:g} requests/s"
        elif self.generator_limited:
            note = f"at least {self.passed:g}: the load generator fell behind its schedule at {self.failed:g} requests/s"
        else:
            note = f"between {self.passed:g} (met) and {self.failed:g} requests/s (missed)"
        return {"capacity_rps": self.passed, "first_failing_rps": self.failed, "slo_ms": self.objective.slo_ms,
                "max_error_rate": self.objective.max_error_rate,
                "p99_at_capacity_ms": best.get("p99_ms") if best else None,
                "achieved_at_capacity_rps": best.get("rps") if best else None,
                "generator_limited": self.generator_limited, "note": note, "probes": len(self.probes)}


def search(probe: Callable[[float], dict[str, Any]], spec: SearchSpec, objective: Objective) -> Capacity:
    """Probes rates by `next_rate` until it is done or `max_probes` ran; `probe(rate)` returns a report row."""
    result = Capacity(objective)
    rate = next_rate(None, None, spec)
    while rate is not None and len(result.probes) < spec.max_probes:
        row = probe(rate)
        ok, why = objective.check(row)
        result.probes.append({**row, "target_rps": rate, "passed": ok, "reason": why})
        if ok:
            result.passed = max(rate, result.passed or 0)
        else:
            result.failed = rate if result.failed is None else min(rate, result.failed)
        rate = next_rate(result.passed, result.failed, spec)
    return result


@dataclass(frozen=True)
class Target:
    """The server a capacity search loads, and how."""

    host: str
    grpc_target: str
    model_name: str
    protocol: str = "rest"
    rows: int = 1
    workers: int = 1
    arrivals: str = "poisson"
    probe_seconds: float = 8.0
    metrics_port: int = 0
    requests: str = ""  # sources.parse; "": the locustfile's default


def start_rate(floor_ms: float) -> float:
    """A rate any server that answers in `floor_ms` when idle keeps easily: a quarter of what one
    connection sends back to back."""
    return max(1.0, round(250 / floor_ms))


def measure(target: Target, spec: SearchSpec, objective: Objective, out_dir: Path, prefix: str) -> Capacity:
    """The capacity search, each probe an open-loop Locust run written to out_dir/<prefix>-<rate>rps*."""

    def probe(rate: float) -> dict[str, Any]:
        users = arrivals.users_for(rate, objective.slo_ms / 1000)
        say(f"  {prefix}: {rate:g} requests/s ({users} users) for {target.probe_seconds:g}s")
        result = locust_run.run(locust_run.LocustRun(
            label=f"{prefix}-{rate:g}rps", out_dir=out_dir, host=target.host, model_name=target.model_name,
            protocol=target.protocol, users=users, seconds=target.probe_seconds, rows=target.rows,
            workers=target.workers, grpc_target=target.grpc_target, metrics_port=target.metrics_port,
            arrival_rate=rate, arrivals=target.arrivals, requests=target.requests,
        ), progress=lambda _: None)
        row = report.run_row(result)
        say(f"    p99 {row['p99_ms']} ms, {row['rps'] or 0:.0f} requests/s achieved, {row['failures']} failed, "
            f"{row.get('missed_sends', 0)} missed sends")
        return row

    return search(probe, spec, objective)


def estimate_seconds(spec: SearchSpec, probe_seconds: float, probes: int | None = None) -> float:
    """Wall time of `probes` probes (default: the most the search may run)."""
    return (probes or spec.max_probes) * (probe_seconds + PROBE_OVERHEAD_S)
