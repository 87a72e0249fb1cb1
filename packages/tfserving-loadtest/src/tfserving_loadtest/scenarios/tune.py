"""tune-batching: capacity at the SLO of each batching candidate (batching_search.py's order), each on a
server of its own started by `start_server(batching file, log)`, within a time budget. Single
measurements on a shared machine are noisy, so when the budget allows, the best and the baseline
are measured once more, side by side, and that pair gives the verdict. The verdict is decided
first; then the best as a batching file in the report folder (and over the baseline file only when
asked); then the report."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedded_tfserving.config import BatchingParameters, parse_batching_parameters, read_batching_parameters
from google.protobuf import text_format

from .. import batching_search, capacity_search, plots, report, run_dirs
from ..errors import LoadTestError
from ..report import say
from ..server_command import Server
from .capacity import check_objective

FIRST_EXTRA_PROBES = 4  # doubling from the unloaded latency's safe start to a failing rate
COLUMNS = ("candidate", *batching_search.PARAMS, "capacity_rps", "p99_at_capacity_ms", "probes", "seconds", "note")


@dataclass
class TuneOptions:
    start_server: Callable[[Path, Path], Server]  # (batching file, log file) -> a server serving the model
    model_name: str
    slo_ms: float
    requests: str  # sources.parse
    budget_s: float = 900.0
    max_error_rate: float = 0.001
    probe_seconds: float = 5.0
    precision: float = 0.15
    max_probes: int = 8
    protocol: str = "rest"
    rows: int = 1
    workers: int = 1
    metrics_port: int = 0
    baseline_file: Path | None = None  # the batching file in use (None: TF Serving's defaults)
    write_baseline: bool = False  # rewrite baseline_file with the recommendation
    reports_dir: Path = Path("reports")
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)


@dataclass
class Measured:
    rows: list[dict[str, Any]] = field(default_factory=list)  # the candidates, then the again-* pair
    curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    best: dict[str, Any] = field(default_factory=dict)  # params, capacity, number
    interrupted: bool = False
    seconds: float = 0.0


def baseline_params(options: TuneOptions) -> batching_search.Params:
    if options.baseline_file is None:
        return batching_search.params_of(BatchingParameters())
    return batching_search.params_of(read_batching_parameters(options.baseline_file))


def run(options: TuneOptions) -> dict[str, Any]:
    try:
        batching_search.check_budget(options.budget_s, options.probe_seconds)
    except ValueError as error:
        raise LoadTestError(f"--budget: {error}") from None
    if options.write_baseline and options.baseline_file is None:
        raise LoadTestError("writing the recommendation needs the batching file in use: give --batching-file")
    baseline = baseline_params(options)
    run_dir = run_dirs.new_run_dir(options.reports_dir, "tune-batching")
    say(f"tuning batching for capacity at p99 <= {options.slo_ms:g} ms within {options.budget_s:g}s -> {run_dir}")
    measured = _measure(options, baseline, run_dir)
    verdict = _decide(measured, baseline)
    _write_batching(options, run_dir, measured, verdict)
    return _write(options, run_dir, measured, verdict)


def _measure(options: TuneOptions, baseline: batching_search.Params, run_dir: Path) -> Measured:
    objective = capacity_search.Objective(options.slo_ms, options.max_error_rate)
    started = time.monotonic()
    found = Measured(best={"params": baseline, "capacity": None})
    best = found.best
    server_start_s = batching_search.SERVER_START_ESTIMATE_S

    def probes_left(most: int) -> int:
        left = options.budget_s - (time.monotonic() - started)
        return min(most, int((left - server_start_s) // (options.probe_seconds + capacity_search.PROBE_OVERHEAD_S)))

    try:
        first_rows: dict[str, float | None] = {}
        for number, params in enumerate(batching_search.candidates(baseline, options.cores, lambda: best["params"])):
            # The first candidate doubles up from a safe start; later ones start near the best so far.
            most = options.max_probes + (FIRST_EXTRA_PROBES if best["capacity"] is None else 0)
            probes = probes_left(most)
            if probes < min(batching_search.MIN_PROBES, most):
                say(f"budget spent after {number} candidates")
                break
            say(f"candidate {number}: {params}")
            row, probes_run, server_start_s = _candidate(options, run_dir, str(number), params, probes,
                                                         best["capacity"], objective)
            row["baseline"] = number == 0
            found.rows.append(row)
            first_rows[str(number)] = row["capacity_rps"]
            found.curves[f"#{number}"] = probes_run
            if row["capacity_rps"] is not None and row["capacity_rps"] > (best["capacity"] or 0):
                best.update(params=params, capacity=row["capacity_rps"], number=number)
        if best.get("number") and first_rows.get("0"):  # a candidate beat the baseline: measure both again
            for label, params, first in (("baseline", baseline, first_rows["0"]),
                                         ("best", best["params"], best["capacity"])):
                probes = probes_left(options.max_probes)
                if probes < min(batching_search.MIN_PROBES, options.max_probes):
                    say("no budget left to confirm the best against the baseline side by side")
                    break
                say(f"confirming the {label}: {params}")
                row, probes_run, server_start_s = _candidate(options, run_dir, f"again-{label}", params, probes,
                                                             first, objective)
                found.rows.append(row)
                found.curves[f"again-{label}"] = probes_run
    except KeyboardInterrupt:
        found.interrupted = True
        say("interrupted: writing what was measured")
    found.seconds = time.monotonic() - started
    return found


def _candidate(options: TuneOptions, run_dir: Path, number: str, params: batching_search.Params, probes: int,
               best_capacity: float | None,
               objective: capacity_search.Objective) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """One candidate's capacity: (its table row, its probes, seconds its server took to start)."""
    began = time.monotonic()
    conf = run_dir / f"candidate-{number}.batching.conf"
    conf.write_text(text_format.MessageToString(batching_search.to_message(params, BatchingParameters)))
    server = options.start_server(conf, run_dir / f"server-{number}.log")
    server_start_s = time.monotonic() - began
    try:
        target = capacity_search.Target(host=server.rest_url, grpc_target=server.grpc_target, model_name=options.model_name,
                                 protocol=options.protocol, rows=options.rows, workers=options.workers,
                                 probe_seconds=options.probe_seconds, metrics_port=options.metrics_port,
                                 requests=options.requests)
        if best_capacity is None:  # the first server: check the objective before any load
            _, start = check_objective(target, options.slo_ms, 0.0, capacity_search.MAX_RATE)
        else:  # near the best so far (or its own first measurement): fewer probes to bracket it
            start = max(1.0, round(0.7 * best_capacity))
        spec = capacity_search.SearchSpec(start_rate=start, precision=options.precision, max_probes=probes)
        found = capacity_search.measure(target, spec, objective, run_dir, f"candidate-{number}")
    finally:
        server.stop()
    result = found.summary()
    say(f"  candidate {number}: capacity {result['capacity_rps']} requests/s ({result['note']})")
    row = {"candidate": number, **params, "capacity_rps": result["capacity_rps"],
           "p99_at_capacity_ms": result["p99_at_capacity_ms"], "probes": len(found.probes),
           "seconds": round(time.monotonic() - began), "note": result["note"]}
    return row, found.probes, server_start_s


def _decide(measured: Measured, baseline: batching_search.Params) -> dict[str, Any]:
    """What to recommend, and how it compares with the baseline: the side-by-side pair when it ran,
    else the two single measurements."""
    first = {str(r["candidate"]): r["capacity_rps"] for r in measured.rows}
    again = (first.get("again-best"), first.get("again-baseline"))
    confirmed = all(again)
    best = measured.best
    best_rps, base_rps = again if confirmed else (best["capacity"], first.get("0"))
    recommended = batching_search.recommendation(best["params"], baseline) if best["capacity"] is not None else None
    return {"best": recommended, "best_measured": best["params"] if best["capacity"] is not None else None,
            "best_capacity_rps": best_rps, "baseline": baseline, "baseline_capacity_rps": base_rps,
            "best_vs_baseline": round(best_rps / base_rps, 2) if best_rps and base_rps else None,
            "confirmed_side_by_side": confirmed, "candidates": len(first), "seconds": round(measured.seconds),
            "written": []}


def _write_batching(options: TuneOptions, run_dir: Path, measured: Measured, verdict: dict[str, Any]) -> None:
    """The recommendation as batching.conf in the report folder (the baseline's text, comments kept,
    under a header saying what was measured), and over the baseline file when asked."""
    recommended, best_rps, base_rps = verdict["best"], verdict["best_capacity_rps"], verdict["baseline_capacity_rps"]
    if recommended is None:
        return
    baseline_text = options.baseline_file.read_text() if options.baseline_file else ""
    header = (f"# Written by tune-batching ({time.strftime('%Y-%m-%d %H:%M')}): capacity {best_rps:g} "
              f"requests/s at p99 <= {options.slo_ms:g} ms, the baseline {base_rps:g} "
              f"({'measured again side by side' if verdict['confirmed_side_by_side'] else 'single measurements'}). "
              f"Report: {run_dir}\n")
    if recommended != measured.best["params"]:
        header += ("# max_enqueued_batches: the guide's value for experiments (unbounded queueing) is replaced by "
                   "the baseline's bound, which fails requests fast under overload instead of queueing them.\n")
    text = header + batching_search.rewrite_values(baseline_text, recommended)
    best_file = run_dir / "batching.conf"
    best_file.write_text(text)
    parse_batching_parameters(text, str(best_file))  # what TF Serving would read
    verdict["written"].append(str(best_file))
    if options.write_baseline and options.baseline_file is not None:
        options.baseline_file.write_text(batching_search.rewrite_values(baseline_text, recommended))
        verdict["written"].append(str(options.baseline_file))


def _write(options: TuneOptions, run_dir: Path, measured: Measured, verdict: dict[str, Any]) -> dict[str, Any]:
    recommended, best_rps, base_rps = verdict["best"], verdict["best_capacity_rps"], verdict["baseline_capacity_rps"]
    confirmed, ratio, rows = verdict["confirmed_side_by_side"], verdict["best_vs_baseline"], measured.rows
    config = {k: str(v) for k, v in vars(options).items() if k != "start_server"}
    summary: dict[str, Any] = {
        "scenario": "tune-batching", "interrupted": measured.interrupted, "config": config, "tuning": verdict,
        "runs": rows, "metrics": {"capacity_rps": best_rps, "capacity_vs_baseline": ratio},
    }
    images = []
    if rows:
        images.append(plots.candidates(rows, run_dir / "capacity_per_candidate.png"))
        images.append(plots.capacity_curves(measured.curves, {f"#{r['candidate']}" if str(r["candidate"]).isdigit()
                                                              else str(r["candidate"]): r["capacity_rps"] for r in rows},
                                            options.slo_ms, run_dir / "latency_vs_throughput.png"))
    headline = [{"recommended": str(recommended), "capacity_rps": best_rps, "baseline_capacity_rps": base_rps,
                 "best_vs_baseline": ratio, "side_by_side": confirmed, "candidates": len(rows),
                 "seconds": verdict["seconds"]}]
    notes = ["Each capacity is one search on a noisy shared machine: candidates within the search's precision "
             f"({options.precision:.0%}) of each other are a tie; the again-* rows measure the best and the "
             "baseline once more, side by side."]
    baseline_name = options.baseline_file.name if options.baseline_file else "TF Serving's default batching"
    return report.publish(run_dir, summary, report.Page(
        f"Batching tuned for capacity at p99 <= {options.slo_ms:g} ms",
        [(f"Recommended against the baseline ({baseline_name})", headline, tuple(headline[0])),
         ("Candidates, in the order measured", rows, COLUMNS)], images, notes=notes,
        terminal=[report.table(rows, COLUMNS),
                  f"recommended: {recommended} -> {best_rps} requests/s; the baseline: {base_rps} requests/s "
                  f"(x{ratio}, {'side by side' if confirmed else 'not confirmed side by side'})",
                  *(f"written: {path}" for path in verdict["written"])]))
