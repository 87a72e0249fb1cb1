"""The toolkit against a model that is not the template's: TF Serving's half_plus_two on the
embedded server, driven only by a JSON request file, through the `tfserving-loadtest` command as
the README writes it (options appended here shorten the runs: the last of a repeated option wins).

Speeds are reported, never asserted: this machine is shared and noisy.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from embedded_tfserving.config import read_batching_parameters

from tfserving_loadtest import batching_search

from .conftest import README

pytestmark = pytest.mark.slow
EMBEDDED = Path(sys.executable).with_name("embedded-tfserving")  # the embedded server's command, in this venv


def readme_command(command: str, rest_url: str, testdata: Path, request_file: Path) -> list[str]:
    """The README's `tfserving-loadtest <command> ...` line, with this test's server, models and file."""
    found = re.search(rf"^tfserving-loadtest {command} (?:.*\\\n)*.*$", README.read_text(), re.M)
    assert found, f"the README's {command} command moved"
    text = (found.group(0).replace("\\\n", " ").replace("http://localhost:8501", rest_url)
            .replace("$TESTDATA", str(testdata)).replace("embedded-tfserving ", f"{EMBEDDED} "))
    words = shlex.split(text)[1:]
    return [str(request_file) if word == "requests.json" else word for word in words]


def toolkit(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tfserving_loadtest", *args], capture_output=True, text=True,
                          timeout=timeout)


def only_run_dir(reports: Path) -> Path:
    (run_dir,) = reports.iterdir()
    return run_dir


def aggregated(stats_csv: Path) -> dict[str, str]:
    with stats_csv.open() as file:
        return next(row for row in csv.DictReader(file) if row["Name"] == "Aggregated")


def test_capacity_search_on_half_plus_two_from_a_request_file(half_plus_two, half_plus_two_path, request_file,
                                                              tmp_path):
    readme = readme_command("capacity", half_plus_two.rest_url, half_plus_two_path.parent, request_file)
    done = toolkit(*readme, "--grpc-target", half_plus_two.grpc_target, "--protocol", "both", "--slo-ms", "250",
                   "--probe-seconds", "2", "--max-probes", "4", "--precision", "0.5",
                   "--reports-dir", str(tmp_path / "reports"), "--fail-if", "capacity_rps<1")
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "reports")
    summary = json.loads((run_dir / "summary.json").read_text())
    probes, found = summary["runs"], summary["capacity"]
    assert 1 <= len(probes) <= 4 and found["probes"] == len(probes)
    for probe in probes:  # each verdict is the objective applied to what Locust measured in that probe
        stats = aggregated(run_dir / f"capacity-{probe['target_rps']:g}rps_stats.csv")
        assert probe["requests"] == int(stats["Request Count"]) > 0 and probe["failures"] == 0
        assert probe["passed"] == (int(stats["99%"]) <= 250 and probe["error_rate"] <= 0.001)
        names = {row["Name"] for row in csv.DictReader((run_dir / f"capacity-{probe['target_rps']:g}rps_stats.csv").open())}
        assert {"predict", "Predict"} <= names, names  # REST and gRPC, both from the one JSON file
    if probes[0]["passed"] and len(probes) > 1:
        assert probes[1]["target_rps"] == 2 * probes[0]["target_rps"]  # doubling while the objective holds
    passing = [p["target_rps"] for p in probes if p["passed"]]
    assert found["capacity_rps"] == (max(passing) if passing else None) == summary["metrics"]["capacity_rps"]
    assert found["capacity_rps"], "a quarter of one connection's pace is within 250 ms on any machine"
    assert summary["thresholds_passed"] is True
    assert (run_dir / "latency_vs_throughput.png").is_file() and "Capacity at p99" in (run_dir / "report.html").read_text()


def test_what_cannot_work_is_refused_before_any_load(half_plus_two, half_plus_two_path, request_file, tmp_path):
    reports = tmp_path / "reports"
    common = ["--model-name", "half_plus_two", "--requests", str(request_file), "--reports-dir", str(reports)]
    cases = [
        (["capacity", "--host", half_plus_two.rest_url, "--slo-ms", "0.001"], "cannot be met: one request with no other load"),
        (["capacity", "--host", half_plus_two.rest_url, "--slo-ms", "100", "--model-name", "other"], "not found on the server"),
        (["capacity", "--host", half_plus_two.rest_url, "--slo-ms", "100", "--requests", "rows.csv"], "names no request source"),
        (["tune-batching", "--server-command", f"{EMBEDDED} --port=1", "--slo-ms", "100"], "sets --port=1"),
        (["tune-batching", "--server-command", "no-such-model-server --model_name=m", "--slo-ms", "100"],
         "no-such-model-server is not a program found on PATH"),
        (["tune-batching", "--server-command", f"{EMBEDDED} --model_base_path={half_plus_two_path}",
          "--slo-ms", "100", "--budget", "10"], "too short for one candidate"),
    ]
    for args, message in cases:
        done = toolkit(args[0], *common, *args[1:])  # later options win: a case may replace a common one
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
    assert not reports.exists() or not list(reports.iterdir())


def test_tune_batching_starts_the_server_command_per_candidate_and_writes_the_best(half_plus_two_path, request_file,
                                                                                   tmp_path):
    baseline = tmp_path / "batching.conf"
    before = "# our serving batching\nmax_batch_size { value: 32 }\nbatch_timeout_micros { value: 1000 }\n" \
             "num_batch_threads { value: 2 }\nmax_enqueued_batches { value: 50 }\n"
    baseline.write_text(before)
    readme = readme_command("tune-batching", "", half_plus_two_path.parent, request_file)
    started = time.monotonic()
    done = toolkit(*readme, "--slo-ms", "250", "--budget", "60", "--probe-seconds", "2", "--max-probes", "3",
                   "--batching-file", str(baseline), "--write-batching-file", "--reports-dir", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 60 * 1.5  # candidates stop once the next would not fit
    run_dir = only_run_dir(tmp_path / "reports")
    summary = json.loads((run_dir / "summary.json").read_text())
    rows, result = summary["runs"], summary["tuning"]
    numbered = [r for r in rows if str(r["candidate"]).isdigit()]
    baseline_params = {"max_batch_size": 32, "batch_timeout_micros": 1000, "num_batch_threads": 2,
                       "max_enqueued_batches": 50}
    assert numbered[0]["baseline"] and {k: numbered[0][k] for k in batching_search.PARAMS} == baseline_params
    assert len(numbered) >= 2, "the budget holds the baseline and the guide's starting point"
    for row in numbered:  # each candidate ran on a server of its own, with its own batching file
        assert (run_dir / f"server-{row['candidate']}.log").is_file()
        assert batching_search.params_of(read_batching_parameters(run_dir / f"candidate-{row['candidate']}.batching.conf")) == \
            {k: row[k] for k in batching_search.PARAMS}
    best = result["best"]
    assert best == batching_search.recommendation(result["best_measured"], baseline_params)
    assert best["max_enqueued_batches"] != batching_search.HIGH_QUEUE  # never the guide's experimenting bound
    assert batching_search.params_of(read_batching_parameters(run_dir / "batching.conf")) == best
    # --write-batching-file updated the given file in place, its comment kept.
    assert batching_search.params_of(read_batching_parameters(baseline)) == best
    assert baseline.read_text().startswith("# our serving batching\n")
    assert (run_dir / "capacity_per_candidate.png").is_file()


def test_steady_open_loop_from_warmup_records_over_rest_and_grpc(half_plus_two, tmp_path):
    """Warmup records written as TF Serving reads them (a TFRecord of PredictionLogs), replayed by
    both protocols at a fixed rate; every request answered."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    from tfserving_loadtest import sources

    records = tmp_path / "tf_serving_warmup_requests"
    with tf.io.TFRecordWriter(str(records)) as writer:
        for body in ({"instances": [1.0, 2.0]}, {"instances": [7.0]}):
            request = sources.rest_to_grpc(body, "half_plus_two", {"serving_default": {"x": "DT_FLOAT"}})
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    done = toolkit("steady", "--host", half_plus_two.rest_url, "--grpc-target", half_plus_two.grpc_target,
                   "--model-name", "half_plus_two", "--requests", f"warmup:{records}", "--protocol", "both",
                   "--rate", "40", "--users", "8", "--duration", "3", "--reports-dir", str(tmp_path / "reports"),
                   "--fail-if", "error_rate>0")
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "reports")
    (row,) = json.loads((run_dir / "summary.json").read_text())["runs"]
    assert row["requests"] > 0 and row["failures"] == 0 and row["target_rps"] == 40
    names = {r["Name"] for r in csv.DictReader((run_dir / "steady_stats.csv").open())}
    assert {"predict", "Predict"} <= names, names
    assert (run_dir / "latency_timeline.png").is_file() and (run_dir / "report.html").is_file()
