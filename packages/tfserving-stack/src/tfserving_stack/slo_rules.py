"""The service level objectives of the alerts (compose/rules/slo.yml), written from .env.

SLO_AVAILABILITY is the share of requests that must not fail; SLO_P99_MS the latency that 99% of
requests must beat. The alerts in compose/rules/alerts.yml read both as recording rules
(`slo:availability:objective`, `slo:latency_seconds:objective`), so changing .env and running
`write_slo_rules` (which `serve` does) is all it takes to move them.

The latency objective also decides which histogram buckets `model:slow_ratio:*` reads: PromQL
cannot compare a bucket's `le` label with a number, so the two bounds around the objective are
written into the rules, with the linear interpolation between them that `histogram_quantile` uses.
That keeps the two views in step: the slow ratio crosses 1% exactly when the dashboards' p99
(estimated from the same buckets) crosses SLO_P99_MS.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from embedded_tfserving.metrics import LATENCY_BUCKETS

from .errors import StackError
from .project import Project

# The windows of the multi-window, multi-burn-rate alerts (Google SRE workbook, chapter 5).
WINDOWS = ("5m", "30m", "1h", "6h")
LATENCY = ":tensorflow:serving:request_latency"
# Status and metadata GETs are recorded with API="": only inference requests count.
INFERENCE = 'API!=""'


@dataclass(frozen=True)
class Slo:
    availability: float  # e.g. 0.999: at most 0.1% of requests may fail
    p99_seconds: float  # 99% of requests faster than this

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> Slo:
        """The objectives of .env (or the environment), refused with the fix when out of range."""
        availability = _number(settings, "SLO_AVAILABILITY", "a share such as 0.999")
        if not 0 < availability < 1:
            raise StackError(f"SLO_AVAILABILITY={availability:g} in .env must lie strictly between 0 and 1 (e.g. 0.999)")
        p99_ms = _number(settings, "SLO_P99_MS", "milliseconds such as 100")
        low, high = LATENCY_BUCKETS[0] / 1000, LATENCY_BUCKETS[-1] / 1000
        if not low <= p99_ms <= high:
            raise StackError(f"SLO_P99_MS={p99_ms:g} in .env is outside TF Serving's latency buckets "
                             f"({low:g} to {high:g} ms): choose a latency objective within them")
        return cls(availability=availability, p99_seconds=p99_ms / 1000)


def _number(settings: Mapping[str, str], key: str, what: str) -> float:
    text = settings.get(key)
    if text is None:
        raise StackError(f"{key} is not set: add it to .env ({what})")
    try:
        value = float(text)
    except ValueError:
        raise StackError(f"{key}={text!r} in .env is not a number: write {what}") from None
    if not math.isfinite(value):
        raise StackError(f"{key}={text!r} in .env is not a finite number: write {what}")
    return value


def le_matcher(bound_us: float) -> str:
    """A selector matching the `le` label of one latency bucket, on Prometheus 2 and 3 alike.

    TF Serving prints bounds with six significant digits (absl::StrCat, as embedded_tfserving
    does); Prometheus 3 rewrites integral ones on ingestion ("121440" becomes "121440.0").
    """
    text = format(bound_us, ".6g")
    if "." in text or "e" in text:
        return f'le="{text}"'
    return f'le=~"{text}(\\\\.0)?"'


def _rate(metric: str, matchers: list[str], window: str) -> str:
    selector = metric + "{" + ", ".join(matchers) + "}"
    return f"sum by (model_name) (rate({selector}[{window}]))"


def _bucket_rate(matcher: str, window: str) -> str:
    return _rate(f"{LATENCY}_bucket", [INFERENCE, matcher], window)


def _bounds(p99_seconds: float) -> tuple[float, ...]:
    """The bucket bound equal to the objective, or the two around it."""
    target_us = p99_seconds * 1e6
    index = bisect.bisect_left(LATENCY_BUCKETS, target_us)
    high = LATENCY_BUCKETS[index]
    if index == 0 or math.isclose(high, target_us, rel_tol=1e-9):
        return (high,)
    return LATENCY_BUCKETS[index - 1], high


def slow_share(p99_seconds: float, window: str) -> list[str]:
    """PromQL (lines) for the share of successful inference requests slower than the objective."""
    total = "/ " + _rate(f"{LATENCY}_count", [INFERENCE], window)
    bounds = _bounds(p99_seconds)
    if len(bounds) == 1:
        return [f"1 - {_bucket_rate(le_matcher(bounds[0]), window)}", total]
    low, high = bounds
    weight = (p99_seconds * 1e6 - low) / (high - low)  # requests assumed spread evenly within the bucket
    return [
        "1 - (",
        f"    {1 - weight:.4f} * {_bucket_rate(le_matcher(low), window)}",
        f"  + {weight:.4f} * {_bucket_rate(le_matcher(high), window)}",
        ")",
        total,
    ]


def slo_rules(slo: Slo) -> str:
    """The text of compose/rules/slo.yml for these objectives."""
    bounds = _bounds(slo.p99_seconds)
    source = (f"the latency bucket of {bounds[0]:.6g} µs" if len(bounds) == 1 else
              f"the latency buckets around it ({bounds[0]:.6g} and {bounds[1]:.6g} µs),\n"
              "      # interpolated as histogram_quantile does")
    lines = [
        "# Generated from .env (SLO_AVAILABILITY, SLO_P99_MS) by write_slo_rules (tfserving_stack.slo_rules),",
        "# which `make serve` runs: edit .env, not this file.",
        "groups:",
        "  - name: slo",
        "    rules:",
        "      # Share of requests that must not fail (status OK); 1 - objective is the error budget.",
        "      - record: slo:availability:objective",
        f"        expr: vector({slo.availability:.10g})",
        "      # 99% of inference requests must be faster than this: 1% of them is the latency budget.",
        "      - record: slo:latency_seconds:objective",
        f"        expr: vector({slo.p99_seconds:.10g})",
        f"      # Share of successful inference requests slower than {slo.p99_seconds * 1000:.10g} ms, from",
        f"      # {source}.",
    ]
    for window in WINDOWS:
        lines += [f"      - record: model:slow_ratio:rate{window}", "        expr: |"]
        lines += ["          " + line for line in slow_share(slo.p99_seconds, window)]
    return "\n".join(lines) + "\n"


def slo_rules_path(project: Project) -> Path:
    return project.compose_dir / "rules" / "slo.yml"


def write_slo_rules(project: Project) -> Path:
    """Write compose/rules/slo.yml from the project's settings (only when it changes)."""
    path = slo_rules_path(project)
    text = slo_rules(Slo.from_settings(project.env))
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path
