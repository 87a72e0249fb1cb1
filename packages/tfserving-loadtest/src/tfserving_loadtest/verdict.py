"""How a scenario's run ends: the --fail-if thresholds checked against its summary and added to its
report, then one verdict: interrupted (exit 130), failed (LoadTestError naming why) or passed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import report, thresholds
from .errors import LoadTestError


def finish(summary: dict[str, Any], fail_if: list[thresholds.Threshold]) -> None:
    if summary.get("interrupted"):
        sys.exit(130)
    failed: list[str] = []
    if fail_if:
        results = thresholds.evaluate(fail_if, summary)
        report.add_verdict(Path(summary["run_dir"]), results)
        for result in results:
            report.say(result["message"])
        failed = [r["threshold"] for r in results if not r["passed"]]
    if summary.get("passed") is False:
        raise LoadTestError("; ".join(summary["failures_found"]) + f" (report: {summary['run_dir']})")
    if failed:
        raise LoadTestError(f"threshold(s) failed: {', '.join(failed)}; report: {summary['run_dir']}")
