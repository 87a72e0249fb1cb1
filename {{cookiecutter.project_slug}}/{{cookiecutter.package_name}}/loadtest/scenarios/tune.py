"""`loadtest tune-batching`: capacity at the SLO of each batching candidate (tuning.py's order),
each on an embedded server of its own, within a time budget. Single measurements on a shared
machine are noisy, so when the budget allows, the best and the baseline are measured once more,
side by side, and that pair gives the verdict. The best is written as a batching.conf next to the
report (and over compose/batching.conf only when asked)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from embedded_tfserving.config import BatchingParameters, parse_batching_parameters, read_batching_parameters

from ...errors import LoadTestError
from ...settings import COMPOSE_DIR
from .. import capacity, plots, preflight, report, tuning
from ..report import say
from .capacity import check_objective
from .common import models_root, server_flags, start_server

FIRST_EXTRA_PROBES = 4  # doubling from the unloaded latency's safe start to a failing rate
COLUMNS = ("candidate", *tuning.PARAMS, "capacity_rps", "p99_at_capacity_ms", "probes", "seconds", "note")


@dataclass
class TuneOptions:
    models_dir: Path
    model_name: str
    slo_ms: float
    budget_s: float = 900.0
    max_error_rate: float = 0.001
    probe_seconds: float = 5.0
    precision: float = 0.15
    max_probes: int = 8
    protocol: str = "rest"
    rows: int = 1
    workers: int = 1
    metrics_port: int = 0
    in_place: bool = False
    write_compose: bool = False
    baseline_file: Path = COMPOSE_DIR / "batching.conf"
    reports_dir: Path = Path("reports")


def run(options: TuneOptions) -> dict[str, Any]:
    try:
        tuning.check_budget(options.budget_s, options.probe_seconds)
    except ValueError as error:
        raise LoadTestError(f"--budget: {error}") from None
    preflight.newest_version(options.models_dir, options.model_name)
    baseline = tuning.params_of(read_batching_parameters(options.baseline_file))
    run_dir = report.new_run_dir(options.reports_dir, "tune-batching")
    objective = capacity.Objective(options.slo_ms, options.max_error_rate)
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[dict[str, Any]]] = {}
    best: dict[str, Any] = {"params": baseline, "capacity": None}
    confirmed: list[dict[str, Any]] = []  # the baseline and the best measured again, side by side
    server_start_s, interrupted = tuning.SERVER_START_ESTIMATE_S, False
    say(f"tuning batching for capacity at p99 <= {options.slo_ms:g} ms within {options.budget_s:g}s -> {run_dir}")
    with models_root(options.models_dir, options.model_name, options.in_place) as models:
        try:
            def probes_left(most: int) -> int:
                left = options.budget_s - (time.monotonic() - started)
                return min(most, int((left - server_start_s) // (options.probe_seconds + capacity.PROBE_OVERHEAD_S)))

            for number, params in enumerate(tuning.candidates(baseline, os.cpu_count() or 1, lambda: best["params"])):
                # The first candidate doubles up from a safe start; later ones start near the best so far.
                most = options.max_probes + (FIRST_EXTRA_PROBES if best["capacity"] is None else 0)
                probes = probes_left(most)
                if probes < min(tuning.MIN_PROBES, most):
                    say(f"budget spent after {number} candidates")
                    break
                say(f"candidate {number}: {params}")
                row, probes_run, server_start_s = _candidate(options, models, run_dir, str(number), params, probes,
                                                             best["capacity"], objective)
                row["baseline"] = number == 0
                rows.append(row)
                curves[f"#{number}"] = probes_run
                if row["capacity_rps"] is not None and row["capacity_rps"] > (best["capacity"] or 0):
                    best.update(params=params, capacity=row["capacity_rps"], number=number)
            if best.get("number") and rows[0]["capacity_rps"]:  # a candidate beat the baseline: measure both again
                for label, params, first in (("baseline", baseline, rows[0]["capacity_rps"]),
                                             ("best", best["params"], best["capacity"])):
                    probes = probes_left(options.max_probes)
                    if probes < min(tuning.MIN_PROBES, options.max_probes):
                        say("no budget left to confirm the best against the baseline side by side")
                        break
                    say(f"confirming the {label}: {params}")
                    row, probes_run, server_start_s = _candidate(options, models, run_dir, f"again-{label}", params,
                                                                 probes, first, objective)
                    confirmed.append(row)
                    curves[f"again-{label}"] = probes_run
        except KeyboardInterrupt:
            interrupted = True
            say("interrupted: writing what was measured")
    return _write(options, run_dir, rows + confirmed, curves, best, baseline, interrupted, time.monotonic() - started)


def _candidate(options: TuneOptions, models: Path, run_dir: Path, number: str, params: tuning.Params, probes: int,
               best_capacity: float | None, objective: capacity.Objective) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """One candidate's capacity: (its table row, its probes, seconds its server took to start)."""
    began = time.monotonic()
    conf = run_dir / f"candidate-{number}.batching.conf"
    conf.write_text(text_format.MessageToString(tuning.to_message(params, BatchingParameters)))
    server = start_server(server_flags(models, batching=True, batching_file=conf), run_dir / f"server-{number}.log")
    server_start_s = time.monotonic() - began
    try:
        if best_capacity is None:  # the first server: check the objective before any load
            _, start = check_objective(server.rest_url, options.model_name, options.rows, options.slo_ms,
                                       options.workers, 0.0, capacity.MAX_RATE)
        else:  # near the best so far (or its own first measurement): fewer probes to bracket it
            start = max(1.0, round(0.7 * best_capacity))
        spec = capacity.SearchSpec(start_rate=start, precision=options.precision, max_probes=probes)
        target = capacity.Target(host=server.rest_url, grpc_target=server.grpc_target, model_name=options.model_name,
                                 protocol=options.protocol, rows=options.rows, workers=options.workers,
                                 probe_seconds=options.probe_seconds, metrics_port=options.metrics_port)
        found = capacity.measure(target, spec, objective, run_dir, f"candidate-{number}")
    finally:
        server.stop()
    result = found.summary()
    say(f"  candidate {number}: capacity {result['capacity_rps']} requests/s ({result['note']})")
    row = {"candidate": number, **params, "capacity_rps": result["capacity_rps"],
           "p99_at_capacity_ms": result["p99_at_capacity_ms"], "probes": len(found.probes),
           "seconds": round(time.monotonic() - began), "note": result["note"]}
    return row, found.probes, server_start_s


def _write(options: TuneOptions, run_dir: Path, rows: list[dict[str, Any]], curves: dict[str, list[dict[str, Any]]],
           best: dict[str, Any], baseline: tuning.Params, interrupted: bool, seconds: float) -> dict[str, Any]:
    first = {str(r["candidate"]): r["capacity_rps"] for r in rows}
    base = first.get("0")
    # The side-by-side pair, when it ran, is the verdict; else the two single measurements.
    again = (first.get("again-best"), first.get("again-baseline"))
    confirmed = all(again)
    best_rps, base_rps = again if confirmed else (best["capacity"], base)
    ratio = round(best_rps / base_rps, 2) if best_rps and base_rps else None
    recommended = tuning.recommendation(best["params"], baseline) if best["capacity"] is not None else None
    written: list[str] = []
    if recommended is not None:
        header = (f"# Written by `loadtest tune-batching` ({time.strftime('%Y-%m-%d %H:%M')}): capacity {best_rps:g} "
                  f"requests/s at p99 <= {options.slo_ms:g} ms, the template's file {base_rps:g} "
                  f"({'measured again side by side' if confirmed else 'single measurements'}). Report: {run_dir}\n")
        if recommended != best["params"]:
            header += ("# max_enqueued_batches: the guide's value for experiments (unbounded queueing) is replaced by "
                       "the template's bound, which fails requests fast under overload instead of queueing them.\n")
        text = header + tuning.rewrite_values(options.baseline_file.read_text(), recommended)
        best_file = run_dir / "batching.conf"
        best_file.write_text(text)
        parse_batching_parameters(text, str(best_file))  # what TF Serving would read
        written.append(str(best_file))
        if options.write_compose:
            options.baseline_file.write_text(tuning.rewrite_values(options.baseline_file.read_text(), recommended))
            written.append(str(options.baseline_file))
    result = {"best": recommended, "best_measured": best["params"] if best["capacity"] is not None else None,
              "best_capacity_rps": best_rps, "baseline": baseline, "baseline_capacity_rps": base_rps,
              "best_vs_baseline": ratio, "confirmed_side_by_side": confirmed, "candidates": len(first),
              "seconds": round(seconds), "written": written}
    summary: dict[str, Any] = {
        "scenario": "tune-batching", "interrupted": interrupted,
        "config": {k: str(v) for k, v in vars(options).items()}, "tuning": result, "runs": rows,
        "metrics": {"capacity_rps": best_rps, "capacity_vs_baseline": ratio},
    }
    images = []
    if rows:
        images.append(plots.candidates(rows, run_dir / "capacity_per_candidate.png"))
        images.append(plots.capacity_curves(curves, {f"#{r['candidate']}" if str(r["candidate"]).isdigit()
                                                     else str(r["candidate"]): r["capacity_rps"] for r in rows},
                                            options.slo_ms, run_dir / "latency_vs_throughput.png"))
    report.write_summary(run_dir, summary)
    headline = [{"recommended": str(recommended), "capacity_rps": best_rps, "baseline_capacity_rps": base_rps,
                 "best_vs_baseline": ratio, "side_by_side": confirmed, "candidates": len(rows),
                 "seconds": round(seconds)}]
    notes = ["Each capacity is one search on a noisy shared machine: candidates within the search's precision "
             f"({options.precision:.0%}) of each other are a tie; the again-* rows measure the best and the "
             "baseline once more, side by side."]
    report.write_html(run_dir, f"Batching tuned for capacity at p99 <= {options.slo_ms:g} ms",
                      [("Recommended against the template's batching.conf", headline, tuple(headline[0])),
                       ("Candidates, in the order measured", rows, COLUMNS)], images, notes=notes)
    say(report.table(rows, COLUMNS))
    say(f"recommended: {recommended} -> {best_rps} requests/s; the template's batching.conf: {base_rps} "
        f"requests/s (x{ratio}, {'side by side' if confirmed else 'not confirmed side by side'})")
    for path in written:
        say(f"written: {path}")
    say(f"report: {run_dir / 'report.html'}")
    summary["run_dir"] = str(run_dir)
    return summary
