"""The load-test scenarios end to end: real Locust, real embedded server, real gRPC, short runs.
The capacity search, the tuner, batching off against on and the version swap run end to end in the
toolkit's own suite (on half_plus_two) and in the batching and swap labs (on this project's model);
here, this project's wiring of them up to their checks before any load.

Speeds are reported by the scenarios, never asserted here: this machine is shared and noisy.
"""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embedded_tfserving.process import ServerProcess, free_port

from {{ cookiecutter.package_name }}.loadtest import locust_run  # the toolkit's, configured for this project
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow


def loadtest(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "loadtest", *args],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)


def only_run_dir(reports: Path) -> Path:
    (run_dir,) = reports.iterdir()
    return run_dir


def aggregated(stats_csv: Path) -> dict[str, str]:
    with stats_csv.open() as file:
        return next(row for row in csv.DictReader(file) if row["Name"] == "Aggregated")


def assert_report_files(run_dir: Path, pngs: int) -> None:
    assert (run_dir / "summary.json").is_file()
    assert len(list(run_dir.glob("*.png"))) >= pngs
    assert list(run_dir.glob("*_stats.csv")) and list(run_dir.glob("*_stats_history.csv"))
    page = (run_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= pngs


@pytest.fixture(scope="module")
def server(published_model):
    with ServerProcess([f"--model_name={published_model.name}", f"--model_base_path={published_model.base_path}",
                        "--monitoring_config_file=compose/monitoring.config"], cwd=PROJECT_ROOT) as running:
        yield running.start()


def test_unreachable_server_fails_before_load(tmp_path):
    done = loadtest("steady", "--host", f"http://127.0.0.1:{free_port()}", "--duration", "2",
                    "--metrics-port", "0", "--reports-dir", str(tmp_path))
    assert done.returncode != 0
    assert "not reachable" in done.stderr and "make serve" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing ran, so no report


def test_wrong_model_name_fails_before_load(server, tmp_path):
    done = loadtest("steady", "--host", server.rest_url, "--model-name", "no_such_model", "--duration", "2",
                    "--metrics-port", "0", "--reports-dir", str(tmp_path))
    assert done.returncode != 0
    assert "'no_such_model' not found" in done.stderr


def test_a_run_started_with_sigint_ignored_still_stops_when_asked(server, published_model, tmp_path):
    """A background job of a script (`cmd &`, nohup, some CI runners) starts with SIGINT ignored and
    passes that on to Locust: the SIGINT that ends a run early must still end it, reports written."""
    spec = locust_run.LocustRun(label="early", out_dir=tmp_path, host=server.rest_url, model_name=published_model.name,
                                protocol="rest", users=2, seconds=120, grpc_target=server.grpc_target, metrics_port=0)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the Locust process
    started = time.monotonic()
    try:
        result = locust_run.run(spec, progress=lambda _: None, stop_when=lambda: time.monotonic() > started + 8)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 60, "Locust ignored the SIGINT and ran on towards its 120 s"
    assert result.requests > 0 and result.failures == 0 and not result.interrupted


@pytest.mark.parametrize("protocol", ["rest", "grpc"])
def test_steady_run_reports_what_locust_measured(server, published_model, tmp_path, protocol):
    done = loadtest("steady", "--protocol", protocol, "--host", server.rest_url, "--grpc-target", server.grpc_target,
                    "--model-name", published_model.name, "--users", "4", "--duration", "4", "--rows", "2",
                    "--metrics-port", str(free_port()), "--reports-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path)
    assert_report_files(run_dir, pngs=1)
    (run,) = json.loads((run_dir / "summary.json").read_text())["runs"]
    row = aggregated(run_dir / "steady_stats.csv")
    assert run["requests"] == int(row["Request Count"]) > 0
    assert run["failures"] == int(row["Failure Count"]) == 0
    assert run["p99_ms"] == int(row["99%"]) >= run["p50_ms"] == int(row["50%"])


def test_two_workers_under_one_master_make_one_report(server, published_model, tmp_path):
    done = loadtest("steady", "--workers", "2", "--protocol", "both", "--host", server.rest_url,
                    "--grpc-target", server.grpc_target, "--model-name", published_model.name, "--users", "4",
                    "--duration", "6", "--metrics-port", "0", "--reports-dir", str(tmp_path), timeout=400)
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path)
    (run,) = json.loads((run_dir / "summary.json").read_text())["runs"]
    assert run["workers"] == 2 and run["failures"] == 0
    # The master's totals are the sum of what each worker sent, and both workers sent requests.
    assert len(run["requests_per_worker"]) == 2 and min(run["requests_per_worker"]) > 0
    assert sum(run["requests_per_worker"]) == run["requests"] == int(aggregated(run_dir / "steady_stats.csv")["Request Count"])
    assert len(list(run_dir.glob("steady-requests-*.csv"))) == 2  # one request log per worker
    assert "requests_per_worker" in (run_dir / "report.html").read_text()


def test_fail_if_thresholds_gate_the_exit_code(server, published_model, tmp_path):
    # p99_ms>0 always trips (any request takes time); error_rate>0.5 never does against a healthy server.
    done = loadtest("steady", "--host", server.rest_url, "--model-name", published_model.name, "--users", "2",
                    "--duration", "3", "--metrics-port", "0", "--reports-dir", str(tmp_path),
                    "--fail-if", "p99_ms>0", "--fail-if", "error_rate > 0.5")
    assert done.returncode == 1, done.stderr
    assert "threshold failed: p99_ms>0 (p99_ms = " in done.stderr and "threshold(s) failed: p99_ms>0;" in done.stderr
    run_dir = only_run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["thresholds_passed"] is False
    assert [(r["threshold"], r["passed"], r["where"]) for r in summary["thresholds"]] == [
        ("p99_ms>0", False, "steady"), ("error_rate>0.5", True, "steady")]
    assert "<p class='fail'>threshold failed: p99_ms&gt;0" in (run_dir / "report.html").read_text()


def test_a_bad_fail_if_expression_fails_before_load(tmp_path):
    # No server at all: the expression is rejected (usage error, 2) before even the preflight checks.
    done = loadtest("steady", "--host", f"http://127.0.0.1:{free_port()}", "--duration", "2", "--metrics-port", "0",
                    "--reports-dir", str(tmp_path / "reports"), "--fail-if", "p99>>5")
    assert done.returncode == 2 and "--fail-if" in done.stderr and "METRIC OP NUMBER" in done.stderr
    assert not (tmp_path / "reports").exists()


# --- open loop, capacity, batching tuner ----------------------------------------------------------

def test_open_loop_sends_at_the_rate_split_over_workers_and_counts_every_send(server, published_model, tmp_path):
    done = loadtest("steady", "--rate", "60", "--workers", "2", "--protocol", "both", "--host", server.rest_url,
                    "--grpc-target", server.grpc_target, "--model-name", published_model.name, "--duration", "6",
                    "--metrics-port", "0", "--reports-dir", str(tmp_path), timeout=400)
    assert done.returncode == 0, done.stderr
    run_dir = only_run_dir(tmp_path)
    (run,) = json.loads((run_dir / "summary.json").read_text())["runs"]
    info = json.loads((run_dir / "steady-run-info.json").read_text())
    assert set(info["user_classes"]) == {"RestRateUser", "GrpcRateUser"}
    # Each worker's tally reached the master: every request Locust counted is a send it scheduled and
    # saw end; the sends still in flight when the run stopped its users (at most one a user) are not.
    tally = info["open_loop"]["tally"]
    assert tally["answered"] == run["requests"] == int(aggregated(run_dir / "steady_stats.csv")["Request Count"])
    assert 0 <= tally["sent"] - tally["answered"] <= run["users"], tally
    assert len(run["requests_per_worker"]) == 2 and min(run["requests_per_worker"]) > 0
    # The pace is the rate's (14 users back to back would send hundreds a second). Measured over the
    # sending time in the request logs: -t also counts the workers' start, which varies.
    sent = locust_run.read_requests(sorted(run_dir.glob("steady-requests-*.csv")))
    assert len(sent) == run["requests"] and run["failures"] == 0
    assert 30 < len(sent) / (sent[-1][0] - sent[0][0]) < 120
    assert run["target_rps"] == 60 and run["missed_sends"] == tally["late"] + tally["unsent"]
    assert "missed_sends" in (run_dir / "report.html").read_text()


def test_an_impossible_rate_is_refused_before_load(server, published_model, tmp_path):
    for rate, users, message in (("100000", "50000", "per Locust process"), ("100000", "1", "per Locust process"),
                                 ("5000", "1", "1 users cannot send 5000 requests/s")):
        done = loadtest("steady", "--rate", rate, "--users", users, "--workers", "1", "--host", server.rest_url,
                        "--model-name", published_model.name, "--duration", "2", "--metrics-port", "0",
                        "--reports-dir", str(tmp_path))
        assert done.returncode == 1 and message in done.stderr, done.stderr
    assert not list(tmp_path.iterdir())


def test_an_slo_below_the_unloaded_latency_is_refused_before_load(server, published_model, tmp_path):
    done = loadtest("capacity", "--host", server.rest_url, "--model-name", published_model.name, "--slo-ms", "0.001",
                    "--metrics-port", "0", "--reports-dir", str(tmp_path))
    assert done.returncode == 1 and "cannot be met: one request with no other load takes" in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_tuning_budget_too_short_for_one_candidate_is_refused(published_model, tmp_path):
    done = loadtest("tune-batching", "--budget", "10", "--models-dir", str(published_model.models_dir),
                    "--model-name", published_model.name, "--metrics-port", "0", "--reports-dir", str(tmp_path))
    assert done.returncode == 1 and "too short for one candidate" in done.stderr
    assert not list(tmp_path.iterdir())
