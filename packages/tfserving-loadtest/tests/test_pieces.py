"""The toolkit's pure pieces: shapes, TF Serving metric parsing, the client-side exporter's names,
report tables, the percentile, model versions and their restore after a run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from embedded_tfserving.process import free_port
from prometheus_client import generate_latest

from tfserving_loadtest import metrics, report, server_metrics, versions
from tfserving_loadtest.errors import LoadTestError
from tfserving_loadtest.shapes import ShapeSpec, plan
from tfserving_loadtest.stats import percentile


def users_at(spec: ShapeSpec, elapsed: float) -> int:
    planned = plan(spec, elapsed)
    assert planned is not None, f"the {spec.kind} shape ended at {elapsed} s"
    return planned[0]


def test_steady_shape_holds_users_until_run_time():
    spec = ShapeSpec("steady", users=8, spawn_rate=8, run_time=10)
    assert plan(spec, 0) == (8, 8) and plan(spec, 9.9) == (8, 8)
    assert plan(spec, 10) is None


def test_step_shape_ramps_to_the_peak():
    spec = ShapeSpec("step", users=10, spawn_rate=5, run_time=60, step_users=4, step_seconds=5)
    assert [users_at(spec, t) for t in (0, 5, 10, 15, 59)] == [4, 8, 10, 10, 10]


def test_spike_shape_spikes_a_third_into_the_run():
    spec = ShapeSpec("spike", users=2, spawn_rate=2, run_time=30, spike_users=20, spike_seconds=5)
    assert users_at(spec, 5) == 2 and users_at(spec, 11) == 20 and users_at(spec, 16) == 2


def test_unknown_shape_is_refused():
    with pytest.raises(ValueError, match="unknown load shape"):
        ShapeSpec("sawtooth")


METRICS_TEXT = """# TYPE :tensorflow:serving:request_count counter
:tensorflow:serving:request_count{model_name="ctr",status="OK"} 100
:tensorflow:serving:batching_session:wrapped_run_count 20
:tensorflow:serving:batching_session:processed_batch_size_bucket{le="1"} 2
:tensorflow:serving:batching_session:processed_batch_size_bucket{le="2"} 5
:tensorflow:serving:batching_session:processed_batch_size_bucket{le="4"} 10
:tensorflow:serving:batching_session:processed_batch_size_bucket{le="+Inf"} 20
:tensorflow:serving:batching_session:processed_batch_size_sum 100
:tensorflow:serving:batching_session:processed_batch_size_count 20
"""


def test_average_batch_size_from_tf_serving_metrics():
    before, after = server_metrics.Snapshot(), server_metrics.parse(METRICS_TEXT)
    stats = server_metrics.batching_delta(before, after, "ctr", rows_per_request=1)
    assert stats.requests == 100 and stats.average_batch_size == 5
    assert stats.batch_size_histogram == {1.0: 2, 2.0: 3, 4.0: 5, float("inf"): 10}


def test_without_batching_each_request_is_its_own_batch():
    text = ':tensorflow:serving:request_count{model_name="ctr",status="OK"} 7\n'
    stats = server_metrics.batching_delta(server_metrics.Snapshot(), server_metrics.parse(text), "ctr", 3)
    assert stats.average_batch_size == 3 and stats.batches == 0


def test_exporter_uses_the_dashboard_names():
    metrics.observe("grpc", True, 0.003)
    metrics.observe("rest", False, 0.5)
    metrics.observe("grpc", True, 0.003, "canary")
    metrics.start_routes("grpc", ["stable"])
    metrics.USERS.set(4)
    text = generate_latest(metrics.REGISTRY).decode()
    assert 'loadtest_requests_total{outcome="success",protocol="grpc",route="latest"}' in text
    assert 'loadtest_requests_total{outcome="failure",protocol="rest",route="latest"}' in text
    assert 'loadtest_request_latency_seconds_bucket{le="0.005",protocol="grpc",route="latest"}' in text
    assert 'loadtest_requests_total{outcome="success",protocol="grpc",route="canary"} 1.0' in text
    # The canary's routes exist at zero before their first request (Prometheus counts from there).
    assert 'loadtest_requests_total{outcome="failure",protocol="grpc",route="stable"} 0.0' in text
    assert "loadtest_users 4.0" in text


def test_table_lines_up_columns():
    lines = report.table([{"users": 1, "rps": 12.345}, {"users": 64, "rps": None}], ["users", "rps"]).splitlines()
    assert len({len(line) for line in lines}) == 1 and "12.3" in lines[1] and "-" in lines[2]


def test_percentile_is_locusts_rule():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 0.99) == 100.0 and percentile(values, 0.5) == 51.0 and percentile(values, 0.0) == 1.0
    assert percentile([3.0, 1.0, 2.0], 1.0) == 3.0
    assert percentile([], 0.99) is None


def test_percentile_agrees_with_locust_on_its_own_data():
    """Locust's own function, run in a child process (importing Locust monkey-patches this one)."""
    latencies = [1, 1, 2, 3, 3, 3, 7, 40, 41, 900, 1000, 5]
    quantiles = (0.5, 0.9, 0.95, 0.99)
    code = ("import collections, json, sys; from locust.stats import calculate_response_time_percentile as p; "
            "values, qs = json.loads(sys.argv[1]), json.loads(sys.argv[2]); counts = collections.Counter(values); "
            "print(json.dumps([p(counts, len(values), q) for q in qs]))")
    locust = subprocess.run([sys.executable, "-c", code, json.dumps(latencies), json.dumps(quantiles)],
                            capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(locust.stdout.strip().splitlines()[-1]) == [percentile([float(v) for v in latencies], q) for q in quantiles]


def test_metrics_text_with_types_is_read_by_name():
    text = ("# TYPE :tensorflow:serving:request_count counter\n"
            ':tensorflow:serving:request_count{model_name="ctr",status="OK"} 3\n'
            ':tensorflow:serving:request_count{model_name="ctr",status="UNAVAILABLE"} 2\n')
    snapshot = server_metrics.parse(text)
    assert snapshot.total(":tensorflow:serving:request_count", model_name="ctr") == 5
    assert snapshot.total(":tensorflow:serving:request_count", status="OK") == 3


def test_restore_removes_the_runs_versions_and_says_when_the_earlier_one_does_not_serve(tmp_path):
    base = tmp_path / "m"
    for number in (1, 2, 3):
        (base / str(number)).mkdir(parents=True)
    nobody = f"http://127.0.0.1:{free_port()}"  # no server: version 1 never serves again
    with pytest.raises(LoadTestError, match="version 1 of m did not serve again within 1s"):
        versions.restore(base, {1}, nobody, "m", timeout=1)
    assert list(versions.published(base)) == [1]  # the run's versions are gone, the earlier one kept


def test_a_published_copy_is_the_next_number_and_staging_folders_are_not_versions(tmp_path):
    base, source = tmp_path / "m", tmp_path / "export"
    (base / "7").mkdir(parents=True)
    (base / ".tmp-half-written").mkdir()
    (source / "variables").mkdir(parents=True)
    (source / "saved_model.pb").write_bytes(b"graph")
    assert versions.publish_copy(source, base) == 8
    assert (base / "8" / "saved_model.pb").read_bytes() == b"graph" and versions.newest(base) == base / "8"
    assert sorted(versions.published(base)) == [7, 8]
    with pytest.raises(LoadTestError, match="no published version of model 'empty'"):
        versions.newest(tmp_path / "empty")


def test_a_workers_request_log_holds_what_it_reported(tmp_path):
    """A request that ends after a worker's last report to the master is in no count of the run:
    the worker's request log leaves it out, so the log and the run's report agree. (In a process of
    its own: importing Locust monkey-patches the standard library.)"""
    import csv

    script = f"""
from types import SimpleNamespace
from tfserving_loadtest import hooks

hooks._local_observations = False  # as in a worker
hooks.on_request("grpc", 5.0)
hooks.on_request("POST", 7.0, exception=RuntimeError("503"))
report = {{}}
hooks.ship_observations("worker-1", report)
hooks.on_request("grpc", 6.0)  # ends after the last report
assert len(report["loadtest_observations"]) == 2, report
options = SimpleNamespace(request_log={str(tmp_path / "requests")!r}, run_info="")
hooks.write_files(SimpleNamespace(parsed_options=options, runner=None))
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    (written,) = tmp_path.glob("requests-*.csv")
    with written.open() as file:
        rows = list(csv.reader(file))
    assert [row[1:3] for row in rows[1:]] == [["5.0", "1"], ["7.0", "0"]]
