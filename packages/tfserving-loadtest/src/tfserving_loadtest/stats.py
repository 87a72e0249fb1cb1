"""The one percentile every report uses, so figures from Locust, the benchmark, the soak and the
swap analysis mean the same thing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .locust_run import Request

# Named in every report next to the figures it produced.
PERCENTILE_RULE = ("pN = the value at 0-based position floor(N/100 * count) of the sorted latencies "
                   "(Locust's rule, which Locust applies to its rounded response times)")


def failure_windows(requests: Sequence[Request], start: float,
                    gap: float = 1.0) -> list[dict[str, float]]:
    """Periods with failed requests (seconds from `start`): failures less than `gap` apart share one."""
    windows: list[dict[str, float]] = []
    for t, _, ok, _ in requests:
        if ok:
            continue
        if windows and t - start - windows[-1]["end_s"] < gap:
            windows[-1]["end_s"] = round(t - start, 2)
            windows[-1]["failures"] += 1
        else:
            windows.append({"start_s": round(t - start, 2), "end_s": round(t - start, 2), "failures": 1})
    return windows


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) by PERCENTILE_RULE; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
