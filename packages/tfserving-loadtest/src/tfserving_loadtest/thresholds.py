"""Pass/fail thresholds on a load test's numbers (`--fail-if p99_ms>50`, k6-style): each expression
says when the run FAILS, so a CI job can gate on it by exit code. Pure Python: parsed before any load."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import LoadTestError

# One row of summary["runs"] (report.run_row) has these; open-loop runs add the last four.
ROW_METRICS = ("requests", "failures", "error_rate", "rps", "p50_ms", "p95_ms", "p99_ms", "avg_ms",
               "missed_sends", "missed_send_rate", "achieved_rps", "target_rps")
# Headline numbers of a whole run, in summary["metrics"] (capacity search, batching, tune-batching).
HEADLINE_METRICS = ("capacity_rps", "capacity_on_off", "capacity_off_rps", "capacity_on_rps", "capacity_vs_baseline")
METRICS = ROW_METRICS + HEADLINE_METRICS

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}
# Longest operators first, so ">=" is not read as ">" followed by "=...".
_EXPRESSION = re.compile(r"\s*(\w+)\s*(>=|<=|==|!=|>|<)\s*(\S+)\s*")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float
    text: str  # the expression without spaces, as reports name it

    def violated(self, observed: float) -> bool:
        return OPS[self.op](observed, self.value)

    def badness(self, observed: float) -> float:
        """Orders rows so the largest is the one that violates the threshold most (or comes closest)."""
        if self.op in (">", ">="):
            return observed
        if self.op in ("<", "<="):
            return -observed
        distance = abs(observed - self.value)
        return distance if self.op == "!=" else -distance


def parse(text: str) -> Threshold:
    """`metric OP number`, e.g. `p99_ms > 50` (the run fails when its p99 is above 50 ms)."""
    match = _EXPRESSION.fullmatch(text)
    value = _number(match.group(3)) if match else None
    if match is None or value is None:
        raise LoadTestError(f"{text!r} is not a threshold: write METRIC OP NUMBER, e.g. p99_ms>50 "
                            f"(OP one of {' '.join(OPS)})")
    metric, op = match.group(1), match.group(2)
    if metric not in METRICS:
        raise LoadTestError(f"unknown metric {metric!r} in {text!r}; known: {', '.join(METRICS)}")
    return Threshold(metric, op, value, f"{metric}{op}{match.group(3)}")


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def load(values: Sequence[str]) -> list[Threshold]:
    """Each value is an expression or @path: a file of expressions, one a line (# comments, blank lines)."""
    found: list[Threshold] = []
    for value in values:
        if not value.startswith("@"):
            found.append(parse(value))
            continue
        path = Path(value[1:])
        if not path.is_file():
            raise LoadTestError(f"threshold file {path} not found")
        for number, line in enumerate(path.read_text().splitlines(), 1):
            expression = line.split("#", 1)[0].strip()
            if not expression:
                continue
            try:
                found.append(parse(expression))
            except LoadTestError as error:
                raise LoadTestError(f"{path}:{number}: {error}") from None
    return found


def _measured(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)


def evaluate(thresholds: Sequence[Threshold], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One result per threshold: a headline metric (summary["metrics"]) is checked once; a row metric
    on every row of summary["runs"], failing if any row violates it (the worst row is reported).
    A metric measured nowhere fails: a CI gate must not pass because its number is missing."""
    headline = summary.get("metrics") or {}
    rows = summary.get("runs") or []
    results = []
    for threshold in thresholds:
        if _measured(headline.get(threshold.metric)):
            candidates = [(headline[threshold.metric], "summary")]
        else:
            candidates = [(row[threshold.metric], str(row.get("label", f"run {n}")))
                          for n, row in enumerate(rows, 1) if _measured(row.get(threshold.metric))]
        if not candidates:
            results.append({"threshold": threshold.text, "passed": False, "observed": None, "where": None,
                            "message": f"threshold failed: {threshold.text} ({threshold.metric} not measured "
                                       "in this run)"})
            continue
        observed, where = max(candidates, key=lambda c: threshold.badness(c[0]))
        passed = not threshold.violated(observed)
        results.append({"threshold": threshold.text, "passed": passed, "observed": observed, "where": where,
                        "message": f"threshold {'passed' if passed else 'failed'}: {threshold.text} "
                                   f"({threshold.metric} = {observed:g} in {where})"})
    return results
