"""The one percentile every report uses, so figures from Locust, the benchmark, the soak and the
swap analysis mean the same thing."""

from __future__ import annotations

from collections.abc import Sequence

# Named in every report next to the figures it produced.
PERCENTILE_RULE = ("pN = the value at 0-based position floor(N/100 * count) of the sorted latencies "
                   "(Locust's rule, which Locust applies to its rounded response times)")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 <= q <= 1) by PERCENTILE_RULE; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
