"""The canary's judgement: each route's figures over a window, read from Prometheus, and the rule
that promotes the candidate or rolls it back.

The figures are the load generator's (loadtest_requests_total and loadtest_request_latency_seconds,
by route = the version label a request named): TF Serving's own metrics carry no version, so the
client side is where the two versions can be told apart, as a service mesh's proxy would.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlparse

from .errors import CanaryError, DashboardError
from .prometheus import Prometheus, QueryError, parse_duration

PROMOTE, ROLLBACK = "promote", "rollback"
# The version labels of a canary (models.config version_labels): clients that name `stable` get the
# promoted version, `canary` the candidate under evaluation.
STABLE, CANARY = "stable", "canary"


@dataclass(frozen=True)
class Arm:
    """One route's figures over the window."""

    route: str
    requests: float
    failures: float
    p99_ms: float | None  # None: no successful request

    @property
    def error_ratio(self) -> float:
        return self.failures / self.requests if self.requests else 0.0

    def row(self) -> dict[str, Any]:
        return {**asdict(self), "requests": round(self.requests), "failures": round(self.failures),
                "error_ratio": round(self.error_ratio, 5), "p99_ms": None if self.p99_ms is None else round(self.p99_ms, 2)}


@dataclass(frozen=True)
class Thresholds:
    """What the canary may cost: a bounded error ratio above stable's and a bounded p99 slowdown."""

    max_error_increase: float = 0.001  # canary error ratio - stable error ratio
    max_p99_ratio: float = 1.5  # canary p99 / stable p99 ... (a p99 of a few hundred requests is noisy)
    p99_slack_ms: float = 10.0  # ... plus this much: a p99 read from histogram buckets is coarse
    min_requests: int = 200  # per route: fewer, and a p99 is one or two requests' word


@dataclass(frozen=True)
class Decision:
    action: str  # PROMOTE or ROLLBACK
    reasons: list[str]
    decided: bool  # False: too little traffic to judge; the candidate goes, as for a rollback


def decide(stable: Arm, canary: Arm, thresholds: Thresholds) -> Decision:
    scarce = [f"only {arm.requests:.0f} {arm.route} requests in the window (at least {thresholds.min_requests} "
              f"needed to judge: raise --rate, --share or --window)"
              for arm in (stable, canary) if arm.requests < thresholds.min_requests]
    if scarce:
        return Decision(ROLLBACK, scarce, decided=False)
    reasons = []
    if canary.error_ratio > stable.error_ratio + thresholds.max_error_increase:
        reasons.append(f"canary error ratio {canary.error_ratio:.4f} is above stable's {stable.error_ratio:.4f} "
                       f"+ {thresholds.max_error_increase:g}")
    if canary.p99_ms is None:
        reasons.append("no canary request succeeded")
    elif stable.p99_ms is not None:
        limit = stable.p99_ms * thresholds.max_p99_ratio + thresholds.p99_slack_ms
        if canary.p99_ms > limit:
            reasons.append(f"canary p99 {canary.p99_ms:.1f} ms is above {limit:.1f} ms "
                           f"(stable's {stable.p99_ms:.1f} ms x {thresholds.max_p99_ratio:g} + {thresholds.p99_slack_ms:g} ms)")
    if reasons:
        return Decision(ROLLBACK, reasons, decided=True)
    return Decision(PROMOTE, [f"canary error ratio {canary.error_ratio:.4f} and p99 {canary.p99_ms:.1f} ms are within "
                              f"the thresholds of stable's ({stable.error_ratio:.4f}, {_ms_text(stable.p99_ms)})"],
                    decided=True)


def _ms_text(value: float | None) -> str:
    return "no p99" if value is None else f"{value:.1f} ms"


# --- Prometheus -----------------------------------------------------------------------------------

def query(prometheus: str, expr: str, at: float) -> list[dict[str, Any]]:
    """An instant query on the toolkit's Prometheus client; CanaryError when it cannot be answered."""
    try:
        return Prometheus(prometheus, timeout=10).query(expr, at)
    except DashboardError as error:
        raise CanaryError(f"cannot query Prometheus at {prometheus}: {error}") from None
    except QueryError as error:
        raise CanaryError(f"Prometheus rejected {expr!r}: {error}") from None


@dataclass(frozen=True)
class Scraping:
    """How Prometheus scrapes the load generator (job loadtest)."""

    interval_s: float
    from_outside: bool  # a target off loopback (host.docker.internal in compose): bind every interface


def require_prometheus(prometheus: str, wait_s: float = 15) -> Scraping:
    """Before anything changes: the decision needs Prometheus, scraping the load generator. A
    Prometheus just started lists its targets a few seconds later, hence the wait."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            targets = Prometheus(prometheus, timeout=5).targets()
        except (DashboardError, QueryError, KeyError):
            raise CanaryError(f"no Prometheus answers at {prometheus}: the canary reads its figures there. start one "
                              "that scrapes the load generator (job `loadtest`), or pass --prometheus") from None
        jobs = [t for t in targets if t.get("labels", {}).get("job") == "loadtest"]
        if jobs:
            hosts = {urlparse(t.get("scrapeUrl", "")).hostname for t in jobs}
            return Scraping(max(parse_duration(t.get("scrapeInterval", "5s")) for t in jobs),
                            from_outside=not hosts <= {"127.0.0.1", "localhost", "::1"})
        if time.monotonic() > deadline:
            raise CanaryError(f"the Prometheus at {prometheus} has no `loadtest` scrape job, so it cannot see the "
                              "canary's traffic: add a job `loadtest` scraping the load generator's --metrics-port")
        time.sleep(1)


def _series(metric: str, selector: str, window: str) -> str:
    return "increase(" + metric + "{" + selector + "}[" + window + "])"


def _by_route(result: list[dict[str, Any]]) -> dict[str, float]:
    return {sample["metric"].get("route", ""): float(sample["value"][1]) for sample in result}


def arms(prometheus: str, window_s: float, at: float, routes: tuple[str, ...] = (STABLE, CANARY)) -> dict[str, Arm]:
    """Each route's requests, failures and p99 over the `window_s` seconds before `at`."""
    selector = f'job="loadtest", route=~"{"|".join(routes)}"'
    window = f"{max(1, round(window_s))}s"
    total = _by_route(query(prometheus, f"sum by (route) ({_series('loadtest_requests_total', selector, window)})", at))
    failed = _by_route(query(prometheus, "sum by (route) ("
                             + _series("loadtest_requests_total", selector + ', outcome="failure"', window) + ")", at))
    p99 = _by_route(query(prometheus, "histogram_quantile(0.99, sum by (route, le) ("
                          + _series("loadtest_request_latency_seconds_bucket", selector, window) + "))", at))
    return {route: Arm(route, total.get(route, 0.0), failed.get(route, 0.0), _ms(p99.get(route))) for route in routes}


def _ms(seconds: float | None) -> float | None:
    # histogram_quantile gives NaN with no observations (every request failed)
    return None if seconds is None or seconds != seconds else seconds * 1000


def rows(figures: Mapping[str, Arm]) -> list[dict[str, Any]]:
    return [arm.row() for arm in figures.values()]
