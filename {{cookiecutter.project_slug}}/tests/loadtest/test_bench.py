"""`bench` end to end, shortened: every served cell is measured in three runs and reported as medians
with spreads, ratios within runs; every cell carries the server's and the load generator's CPU per
request, each protocol's floor is measured in the same runs, the ranking-size cells report rows/s
against the in-process ceiling (the load paths are the toolkit's suite's, on half_plus_two), and py-spy's
profile of the server gives its CPU by share and its top frames. A --baseline folder's server (another
release's package) runs beside this one and is measured in the same runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import embedded_tfserving
from tfserving_loadtest.bench.run import BASELINE, GRPC_FLOOR, REST_FLOOR

from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT


@pytest.mark.slow
def test_bench_measures_server_cpu_floors_and_ranking_rows(published_model, tmp_path: Path) -> None:
    output = tmp_path / "bench.json"
    # The baseline: a copy of the server's package that says where it was imported from.
    baseline = tmp_path / "baseline"
    shutil.copytree(Path(embedded_tfserving.__file__).parent, baseline / "embedded_tfserving",
                    ignore=shutil.ignore_patterns("tests", "__pycache__"))
    with (baseline / "embedded_tfserving" / "__init__.py").open("a") as init:
        init.write("\nprint('embedded_tfserving imported from', __file__, flush=True)\n")
    done = subprocess.run(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}", "bench", "--seconds", "1", "--levels", "4",
         "--ranking-rows", "50", "--skip-naive", "--no-load-paths", "--repeats", "3",
         "--models-dir", str(published_model.models_dir), "--model-name", published_model.name,
         "--baseline", str(baseline), "--output", str(output)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(output.read_text())
    cells = {(c["target"], c["rows"]): c for c in report["cells"] if c["concurrency"] == 4}
    expected = {(t, 1) for t in ("REST batching off", "gRPC batching off", "REST batching on", "gRPC batching on",
                                 REST_FLOOR, GRPC_FLOOR, f"REST {BASELINE}", f"gRPC {BASELINE}")} | {
                                     ("REST batching on", 50), ("gRPC batching on", 50)}
    assert expected <= set(cells)
    assert report["repeats"] == 3 and len(report["runs"]) == 3
    for key in expected:
        cell = cells[key]
        assert cell["requests"] > 0 and cell["errors"] == 0 and cell["runs"] == 3, cell
        assert cell["server_cpu_us"] > 0 and cell["client_cpu_us"] > 0, cell
        assert cell["rows_per_s"] == pytest.approx(cell["rps"] * key[1])
        # the median of the three runs' figures, and their spread
        per_run = sorted(c["rps"] for run in report["runs"] for c in run
                         if (c["target"], c["rows"], c["concurrency"]) == (*key, 4))
        assert len(per_run) == 3 and cell["rps"] == per_run[1]
        assert cell["rps_spread"] == pytest.approx((per_run[2] - per_run[0]) / per_run[1])
    # The model does real work: a request costs the server more than its protocol's canned reply.
    assert cells[("REST batching off", 1)]["server_cpu_us"] > cells[(REST_FLOOR, 1)]["server_cpu_us"]
    assert cells[("gRPC batching off", 1)]["server_cpu_us"] > cells[(GRPC_FLOOR, 1)]["server_cpu_us"]
    ratios = report["ratios"]
    assert f"gRPC batching on / {BASELINE}, server CPU per request at 4 clients" in ratios
    baseline_log = (output.parent / "server-batching-on-baseline.log").read_text()
    assert f"embedded_tfserving imported from {baseline / 'embedded_tfserving' / '__init__.py'}" in baseline_log
    assert "imported from" not in (output.parent / "server-batching-on.log").read_text()
    assert "gRPC / REST (batching on), own work per request at 4 clients" in ratios
    ceiling = ratios["gRPC batching on, 50 rows per request / in-process ceiling, rows/s"]
    assert 0 < ceiling["lowest"] <= ceiling["median"] <= ceiling["highest"]
    assert "server CPU per request at 4 clients" in done.stdout and "own work" in done.stdout
    # py-spy's profile of the batching-on server under each protocol: every sample in one share
    for name, protocol in (("REST batching on", "rest"), ("gRPC batching on", "grpc")):
        found = report["profile"][name]
        assert found["error"] == "" and found["samples"] > 50, found
        assert sum(found["shares"].values()) == pytest.approx(1.0, abs=1e-3) and found["shares"]["TensorFlow"] > 0
        assert found["top_frames"] and (output.parent / f"profile-{protocol}.txt").is_file()
    assert "server CPU by share" in done.stdout and (output.parent / "bench.txt").is_file()
    # compose's max_batch_size (64 rows) holds one 50-row request: the bench raised it, in a file of its own.
    assert "max_batch_size" in (output.parent / "batching-50rows.conf").read_text()
