"""`summary`: the headline figures of the newest runs, read back from the files the stages wrote."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from .options import reports_dir_option


def newest_report(reports_dir: Path, scenario: str) -> Path | None:
    """reports/<timestamp>-<scenario>/summary.json with the latest timestamp (names sort by time)."""
    # <date>-<time>-<scenario> exactly: "batching" must not find tune-batching's reports.
    found = sorted(p for p in reports_dir.glob(f"*-{scenario}/summary.json")
                   if re.fullmatch(r"\d{8}-\d{6}-" + re.escape(scenario), p.parent.name))
    return found[-1] if found else None


def read_json(path: Path | None) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path is not None and path.is_file() else None


def evaluation_lines(evaluation: dict[str, Any] | None) -> list[str]:
    if evaluation is None:
        return ["model: no artifacts/evaluation.json yet (run `make train`)"]
    return [f"model: AUC {evaluation['auc']:.3f}, log loss {evaluation['log_loss']:.3f} on the held-out split"]


def batching_lines(summary: dict[str, Any] | None, path: Path | None) -> list[str]:
    if summary is None or path is None:
        return ["batching: no report yet (run `make loadtest-batching`)"]
    lines = [f"batching: {path.parent}"]
    capacity = {c["batching"]: c["capacity_rps"] for c in summary.get("capacity", [])}
    if capacity:
        lines.append(f"  capacity at p99 <= {summary.get('slo_ms'):g} ms: {capacity.get('off') or 0:g} requests/s off, "
                     f"{capacity.get('on') or 0:g} on (x{summary.get('metrics', {}).get('capacity_on_off')})")
    for ratio in summary.get("ratios", []):
        lines.append(f"  {ratio['users']:>4} users: throughput x{ratio['throughput_on_off']} with batching on, "
                     f"p99 x{ratio['p99_on_off']}")
    return lines


def swap_lines(summary: dict[str, Any] | None, path: Path | None) -> list[str]:
    if summary is None or path is None:
        return ["swap: no report yet (run `make loadtest-swap`)"]
    verdict = "PASSED" if summary.get("passed") else "FAILED: " + "; ".join(summary.get("failures_found", []))
    return [
        f"swap: {path.parent}",
        f"  {verdict}; {summary.get('requests')} requests, {summary.get('failures')} failed, "
        f"served versions {summary.get('served_versions_in_order')}, steady p99 {summary.get('steady_p99_ms')} ms",
    ]


@click.command("summary")
@click.option("--artifacts-dir", type=click.Path(path_type=Path), default=Path("artifacts"), show_default=True)
@reports_dir_option("where the load-test runs are (the newest of each kind is summarized)")
def summary_command(artifacts_dir: Path, reports_dir: Path) -> None:
    """Print the model's AUC, the batching gain and the swap result of the newest runs."""
    batching = newest_report(reports_dir, "batching")
    swap = newest_report(reports_dir, "swap")
    lines = evaluation_lines(read_json(artifacts_dir / "evaluation.json"))
    lines += batching_lines(read_json(batching), batching)
    lines += swap_lines(read_json(swap), swap)
    click.echo("\n".join(lines))
