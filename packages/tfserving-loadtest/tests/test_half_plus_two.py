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

from .conftest import README, config_text

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


def test_batching_off_against_on_starts_the_server_command_twice(half_plus_two_path, request_file, tmp_path):
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n')
    readme = readme_command("batching", "", half_plus_two_path.parent, request_file)
    at = readme.index("--server-command") + 1
    readme[at] += f" --monitoring_config_file={monitoring}"  # the server's batch counts, read back per level
    done = toolkit(*readme, "--levels", "1,4", "--level-seconds", "2", "--reports-dir", str(tmp_path / "reports"),
                   "--fail-if", "error_rate>0")
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path / "reports")
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = {(row["batching"], row["users"]): row for row in summary["runs"]}
    assert set(rows) == {("off", 1), ("off", 4), ("on", 1), ("on", 4)}
    for (mode, _), row in rows.items():
        assert row["requests"] > 0 and row["failures"] == 0
        # Batching on: the server ran batches (its batching session's metrics); off: none.
        assert (row["server_batches"] > 0) == (mode == "on"), row
    assert [r["users"] for r in summary["ratios"]] == [1, 4]
    assert (run_dir / "server-batching-off.log").is_file() and (run_dir / "server-batching-on.log").is_file()
    assert (run_dir / "throughput_latency_vs_concurrency.png").is_file()


def test_swap_publishes_versions_under_grpc_load_and_restores_the_base_path(polled_copy, half_plus_two_path,
                                                                            request_file, tmp_path):
    from tfserving_loadtest import versions

    server, base = polled_copy
    readme = readme_command("swap", server.rest_url, half_plus_two_path.parent, request_file)
    readme = [word.replace("/tmp/half_plus_two", str(base)) for word in readme]
    done = toolkit(*readme, "--grpc-target", server.grpc_target, "--users", "2", "--interval", "2",
                   "--reports-dir", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert versions.published(base) == {123: base / "00000123"}  # the run's versions removed
    assert versions.is_available(server.rest_url, "half_plus_two", 123)  # and the original serves again
    summary = json.loads((only_run_dir(tmp_path / "reports") / "summary.json").read_text())
    assert summary["passed"] and summary["failures"] == 0 and summary["requests"] > 0
    steps = summary["steps"]
    assert [(s["step"], s["version"]) for s in steps] == [("new", 124), ("new", 125), ("rollback", 126),
                                                          ("corrupt", 127)]
    assert all(s["moved"] for s in steps[:3]) and steps[3]["first_served_s"] is None
    assert summary["served_versions_in_order"] == [123, 124, 125, 126]


def test_soak_answers_everything_through_publishes_and_malformed_bursts(polled_copy, half_plus_two_path, request_file,
                                                                        tmp_path):
    from tfserving_loadtest import versions

    server, base = polled_copy
    readme = readme_command("soak", server.rest_url, half_plus_two_path.parent, request_file)
    readme = [word.replace("/tmp/half_plus_two", str(base)) for word in readme]
    readme[readme.index("--server-pid") + 1] = str(server.pid)
    done = toolkit(*readme, "--grpc-target", server.grpc_target, "--duration", "6", "--interval", "2",
                   "--fault-every", "2", "--clients", "2", "--reports-dir", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert versions.published(base) == {123: base / "00000123"}  # the published copies removed
    report = json.loads((only_run_dir(tmp_path / "reports") / "soak.json").read_text())
    assert report["unexpected"] == {} and report["outcomes"]["ok"] > 0
    assert [f["fault"] for f in report["faults"]][:2] == ["publish", "malformed_burst"]
    assert report["faults"][0]["version"] == 124
    assert sum(n for kind, n in report["outcomes"].items() if kind.startswith("malformed_4")) == 30
    assert report["rss_start_mb"] > 0 and all(i["server_rss_mb"] > 0 for i in report["intervals"])


def test_canary_promotes_a_good_candidate_and_rolls_back_one_that_cannot_load(half_plus_two_path, request_file,
                                                                             prometheus, tmp_path):
    import shutil

    from embedded_tfserving.process import ServerProcess, free_port

    from tfserving_loadtest import model_config, versions

    base = tmp_path / "half_plus_two"
    shutil.copytree(half_plus_two_path, base)
    config = tmp_path / "models.config"
    config.write_text(config_text("half_plus_two", base))
    prometheus_url, prometheus_config, start_prometheus = prometheus
    metrics_port = free_port()
    prometheus_config.write_text(f"scrape_configs:\n  - job_name: loadtest\n    scrape_interval: 1s\n"
                                 f"    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n")
    start_prometheus()
    flags = [f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1"]
    with ServerProcess(flags, tmp_path / "server.log") as server:
        server.start()
        versions.publish_copy(versions.newest(base), base)  # the candidate, 124, beside 123

        def canary(*extra: str) -> subprocess.CompletedProcess[str]:
            readme = readme_command("canary", server.rest_url, half_plus_two_path.parent, request_file)
            readme = [word.replace("/tmp/half_plus_two", str(base)).replace("models.config", str(config))
                      .replace("http://localhost:9090", prometheus_url).replace("9646", str(metrics_port))
                      for word in readme]
            return toolkit(*readme, "--grpc-target", server.grpc_target, "--rate", "60", "--share", "0.5",
                           "--window", "6", "--min-requests", "50", "--max-p99-ratio", "3", "--p99-slack-ms", "50",
                           "--apply-timeout", "30", "--reports-dir", str(tmp_path / "reports"), *extra)

        done = canary()
        assert done.returncode == 0, done.stderr
        pinned = model_config.read(config)
        assert model_config.labels(pinned, "half_plus_two") == {"stable": 124}
        assert model_config.pinned_versions(pinned, "half_plus_two") == [123, 124]  # the old stable kept loaded
        (promoted,) = [json.loads(p.read_text()) for p in (tmp_path / "reports").glob("*-canary/summary.json")]
        assert promoted["decision"] == "promote" and promoted["stable_version"] == 123
        routes = {row["route"]: row for row in promoted["locust"]}
        assert set(routes) == {"stable", "canary"} and all(row["requests"] > 0 for row in routes.values())
        assert all(row["failures"] == 0 for row in routes.values())

        corrupt = base / "125"  # a version TF Serving cannot load
        shutil.copytree(base / "124", tmp_path / "staged")
        (tmp_path / "staged" / "saved_model.pb").write_bytes(b"not a SavedModel")
        (tmp_path / "staged").rename(corrupt)
        done = canary()
        assert done.returncode == 1 and "version 125 rolled back; version 124 stays stable" in done.stderr
        after = model_config.read(config)
        assert model_config.labels(after, "half_plus_two") == {"stable": 124}
        assert model_config.pinned_versions(after, "half_plus_two") == [124]
        assert versions.available(versions.states(server.rest_url, "half_plus_two")) == {124}


def test_bench_measures_every_cell_against_the_floor_on_half_plus_two(half_plus_two_path, request_file, tmp_path):
    batching = tmp_path / "batching.conf"
    batching.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 1000 }\n"
                        "num_batch_threads { value: 2 }\n")
    readme = readme_command("bench", "", half_plus_two_path.parent, request_file)
    readme = [str(batching) if word == "batching.conf" else word for word in readme]
    done = toolkit(*readme, "--seconds", "0.5", "--levels", "2", "--repeats", "2", "--no-profile",
                   "--reports-dir", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = only_run_dir(tmp_path / "reports")
    report = json.loads((run_dir / "bench.json").read_text())
    cells = {c["target"]: c for c in report["cells"]}
    served = ("REST batching off", "gRPC batching off", "REST batching on", "gRPC batching on",
              "REST floor (aiohttp)", "gRPC floor (grpc.aio)")
    for target in served:
        assert cells[target]["requests"] > 0 and cells[target]["errors"] == 0 and cells[target]["runs"] == 2, cells[target]
        assert cells[target]["server_cpu_us"] > 0
    assert any(target.startswith("in-process batch") for target in cells)
    # The floor answers with the server's own reply to the first request: y = 0.5 * x + 2.
    assert json.loads((run_dir / "floor-reply.json").read_text()) == {"predictions": [2.5, 3.0, 4.5]}
    assert {(c["path"], c["threads"]) for c in report["load_paths"]} == {
        ("session", 0), ("object graph", 0), ("session", 1), ("object graph", 1)}
    assert "gRPC / REST floor, server CPU per request at 2 clients" in report["ratios"]
    assert (run_dir / "bench.txt").is_file()
