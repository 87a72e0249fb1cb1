"""The compose stack on a real Docker engine, with the local images: `make serve` to `make stop`,
predictions through the published ports, Prometheus' scrape, version swaps under load, Locust in
containers, a server crash under load and a broken config edit. The tests share one stack and run
in this order."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
import requests
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from embedded_tfserving.testing import wait_for
from tfserving_loadtest.dashboards.preview import render
from tfserving_stack import compose
from tfserving_stack.mode import docker_client

from {{ cookiecutter.package_name }}.contract import OUTPUT, grpc_predict_request, published_versions, rest_predict_body
from {{ cookiecutter.package_name }}.dashboards.definitions import DASHBOARDS
from {{ cookiecutter.package_name }}.data.schema import Schema
from {{ cookiecutter.package_name }}.data.synthetic import generate

from ..helpers import grafana_substitute, make, prometheus_query, read_env
from .support import scratch

pytestmark = pytest.mark.slow
SCRAPE_SECONDS = 5  # compose/prometheus.yml


def urls(root: Path) -> tuple[str, str, str]:
    env = read_env(root)
    return (f"http://127.0.0.1:{env['REST_PORT']}", f"127.0.0.1:{env['GRPC_PORT']}",
            f"http://127.0.0.1:{env['PROMETHEUS_PORT']}")


def container(root: Path, service: str):
    name = read_env(root)["COMPOSE_PROJECT_NAME"]
    with docker_client() as client:
        (found,) = client.containers.list(all=True, filters={"label": [f"com.docker.compose.project={name}",
                                                                      f"com.docker.compose.service={service}"]})
    return found


def test_status_shows_every_service_running_and_healthy(stack) -> None:
    root, served = stack
    assert "compose stack is up" in served
    shown = make(root, "status")
    assert shown.returncode == 0, shown.stderr
    for service in ("tfserving", "prometheus", "alertmanager", "alert-receiver"):
        assert f"compose {service}: running (healthy)" in shown.stdout, shown.stdout
    assert f"alerts: none firing (Alertmanager http://127.0.0.1:{read_env(root)['ALERTMANAGER_PORT']})" in shown.stdout
    assert "version 1 AVAILABLE" in shown.stdout
    if "compose grafana" not in shown.stdout:  # no Grafana image here: serve said it left it out
        assert "the stack runs without Grafana" in served


def test_grafana_provisions_every_dashboard(stack) -> None:
    root, served = stack
    if "the stack runs without Grafana" in served:
        pytest.skip("Grafana cannot run here: its image (GRAFANA_IMAGE) cannot be pulled and has no local build, so "
                    "the stack ran without it; its provisioning files are checked by tests/stack/test_compose_files.py")
    env = read_env(root)
    grafana = f"http://127.0.0.1:{env['GRAFANA_PORT']}"
    wait_for(lambda: requests.get(f"{grafana}/api/health", timeout=5).ok, "Grafana to answer", 120)
    titles = {board["title"] for board in requests.get(f"{grafana}/api/search", params={"type": "dash-db"}, timeout=10,
                                                        auth=("admin", env["GRAFANA_ADMIN_PASSWORD"])).json()}
    assert {board.title for board in DASHBOARDS.values()} <= titles, titles


def test_rest_and_grpc_predict_through_the_published_ports(stack, schema: Schema, published_model) -> None:
    root, _ = stack
    rest, grpc_target, _ = urls(root)
    rows = generate(schema, 3, seed=11)
    reply = requests.post(f"{rest}/v1/models/{published_model.name}:predict", data=rest_predict_body(rows), timeout=30)
    assert reply.status_code == 200, reply.text
    predictions = reply.json()["predictions"]
    with grpc.insecure_channel(grpc_target) as channel:
        answer = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            grpc_predict_request(published_model.name, rows), timeout=30)
    assert answer.model_spec.version.value == published_model.version
    assert tf.make_ndarray(answer.outputs[OUTPUT]).tolist() == pytest.approx(predictions, abs=1e-6)


def test_prometheus_scrapes_the_server_and_a_panel_query_returns_data(stack, schema: Schema, published_model,
                                                                     tmp_path: Path) -> None:
    root, _ = stack
    rest, _, prometheus = urls(root)

    def server_target_up() -> bool:
        targets = requests.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        return any(t["labels"]["job"] == "tfserving" and t["health"] == "up" for t in targets)

    wait_for(server_target_up, "the tfserving target to be up in Prometheus", 60)
    body = rest_predict_body(generate(schema, 1, seed=12))
    panel = DASHBOARDS["serving-overview.json"].panels[0]
    expr = grafana_substitute(panel.queries[0].expr, published_model.name, SCRAPE_SECONDS)

    def panel_has_data() -> bool:
        requests.post(f"{rest}/v1/models/{published_model.name}:predict", data=body, timeout=30)
        return any(float(series["value"][1]) > 0 for series in prometheus_query(prometheus, expr))

    wait_for(panel_has_data, f"data for the panel '{panel.title}' ({expr})", 90)
    # The dashboard preview reads the compose Prometheus as it reads the embedded one.
    overview = {"serving-overview.json": DASHBOARDS["serving-overview.json"]}
    [preview] = render(prometheus, published_model.name, time.time() - 120, time.time(), tmp_path, overview)
    assert preview.panels[0].has_data and preview.path.is_file(), preview.panels[0].note


def test_prometheus_loads_the_rules_and_sends_alerts_to_alertmanager_which_notifies_the_receiver(stack) -> None:
    root, _ = stack
    _, _, prometheus = urls(root)
    env = read_env(root)
    alertmanager = f"http://127.0.0.1:{env['ALERTMANAGER_PORT']}"
    receiver = f"http://127.0.0.1:{env['ALERT_WEBHOOK_PORT']}/alerts"
    # The rule files mounted from compose/rules/, every group evaluated without error.
    groups = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
    files = {Path(group["file"]).name for group in groups}
    assert files == {path.name for path in (root / "compose" / "rules").glob("*.yml")}, files
    rules = [rule for group in groups for rule in group["rules"]]
    assert {"ModelServerDown", "ModelVersionLoadFailed"} <= {r["name"] for r in rules if r["type"] == "alerting"}

    def evaluated() -> bool:
        again = requests.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return all(rule["health"] == "ok" for group in again for rule in group["rules"])

    wait_for(evaluated, "every rule to be evaluated without error", 60)
    # Prometheus found Alertmanager by its service name.
    managers = requests.get(f"{prometheus}/api/v1/alertmanagers", timeout=10).json()["data"]
    assert [m["url"] for m in managers["activeAlertmanagers"]] == ["http://alertmanager:9093/api/v2/alerts"]
    # Alertmanager reaches the receiver container by its service name: an alert posted as
    # Prometheus posts it comes out as a notification (after group_wait, 10 s) in run/alerts.jsonl.
    alert = {"labels": {"alertname": "ComposeRoutingCheck", "severity": "ticket"},
             "annotations": {"summary": "posted by the compose test"}}
    assert requests.post(f"{alertmanager}/api/v2/alerts", json=[alert], timeout=10).ok
    wait_for(lambda: any(n["alerts"][0]["labels"]["alertname"] == "ComposeRoutingCheck"
                         for n in requests.get(receiver, timeout=10).json()), "the receiver to be notified", 60)
    lines = (root / "run" / "alerts.jsonl").read_text().splitlines()
    assert any(json.loads(line)["commonLabels"].get("alertname") == "ComposeRoutingCheck" for line in lines)
    shown = make(root, "status")
    assert "ComposeRoutingCheck (ticket) since" in shown.stdout, shown.stdout
    resolved = {**alert, "endsAt": "2020-01-01T00:00:00Z"}  # in the past: resolved now
    assert requests.post(f"{alertmanager}/api/v2/alerts", json=[resolved], timeout=10).ok


def test_swap_under_load_picks_up_versions_published_into_the_mounted_models(stack, published_model) -> None:
    root, _ = stack
    done = make(root, "loadtest-swap", "SWAP_AGAINST=running", "SWAP_ARGS=--users 4 --interval 3 --metrics-port 0",
                timeout=600)
    summary = json.loads(next((root / "reports").glob("*-swap/summary.json")).read_text())
    print("compose swap:", {key: summary[key] for key in ("requests", "failures", "steady_p99_ms")},
          [(s["step"], s["version"], s["p99_window_ms"]) for s in summary["steps"]])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert summary["passed"] and summary["failures"] == 0 and summary["requests"] > 0
    swaps = [s for s in summary["steps"] if s["step"] != "corrupt"]
    assert [s["step"] for s in swaps] == ["new", "new", "rollback"] and all(s["moved"] for s in swaps)
    assert summary["corrupt"]["never_served"]
    # The run removed what it published: models/ holds the starting version, and it serves again.
    assert sorted(published_versions(root / "models" / published_model.name)) == [published_model.version]
    shown = make(root, "status").stdout
    assert f"version {published_model.version} AVAILABLE" in shown, \
        shown + container(root, "tfserving").logs(tail=60).decode(errors="replace")


def test_locust_master_and_two_workers_run_in_containers(stack, published_model) -> None:
    root, _ = stack
    _, _, prometheus = urls(root)
    project = scratch(root)
    out = root / "reports" / "compose-loadtest"
    out.mkdir(parents=True)
    out.chmod(0o777)  # written from inside the containers
    options = ("--headless -u 4 -r 4 -t 25s --expect-workers 2 --expect-workers-max-wait 120 --stop-timeout 5 "
               "--csv reports/compose-loadtest/locust --run-info reports/compose-loadtest/run-info.json")
    started = compose.run_compose(project, "up", "-d", "locust-master", "locust-worker",
                                  profiles=("cpu", "loadtest"), capture=True, env={"LOCUST_MASTER_OPTIONS": options})
    assert started.returncode == 0, started.stderr
    try:
        wait_for(lambda: container(root, "locust-master").status == "exited", "the Locust master to finish", 300)
    finally:
        master_log = container(root, "locust-master").logs().decode(errors="replace")
    exited = container(root, "locust-master").attrs["State"]["ExitCode"]
    # The last value each series had: once the master has exited its target is down and, a scrape
    # later, its series are stale and an instant query of them returns nothing.
    prometheus_total = sum(float(s["value"][1]) for s in
                           prometheus_query(prometheus, "sum(max_over_time(loadtest_requests_total[10m]))"))
    compose.run_compose(project, "rm", "--stop", "--force", "locust-master", "locust-worker",
                        profiles=("cpu", "loadtest"), capture=True)
    assert exited == 0, master_log[-3000:]
    with (out / "locust_stats.csv").open() as file:
        aggregated = next(row for row in csv.DictReader(file) if row["Name"] == "Aggregated")
    total, failed = int(aggregated["Request Count"]), int(aggregated["Failure Count"])
    workers = json.loads((out / "run-info.json").read_text())["worker_requests"]
    print(f"Locust in containers: {total} requests, {failed} failed, per worker {workers}, Prometheus {prometheus_total}")
    assert total > 0 and failed == 0
    assert len(workers) == 2 and all(count > 0 for count in workers.values()), workers
    assert sum(workers.values()) == pytest.approx(total, rel=0.05)
    # The exporter's counts reached Prometheus from both workers: more than either one sent alone.
    assert max(workers.values()) < prometheus_total <= total


def test_a_server_crash_under_load_restarts_it_and_the_load_test_reports_the_failed_window(stack) -> None:
    root, _ = stack
    before = container(root, "tfserving").attrs["RestartCount"]
    venv = Path(sys.prefix)
    load = subprocess.Popen(["make", "-o", f"{venv}/.installed", "loadtest", f"VENV={venv}",
                             "LOADTEST_ARGS=--duration 45 --users 4 --metrics-port 0"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(15)  # steady traffic first
        # A crash (what the OOM killer does): SIGKILL to the server, the container's main process.
        # `docker kill` would not do: the engine counts it as a manual stop, which no restart policy undoes.
        os.kill(container(root, "tfserving").attrs["State"]["Pid"], signal.SIGKILL)
        wait_for(lambda: container(root, "tfserving").attrs["RestartCount"] > before, "the restart policy", 60)
        wait_for(lambda: container(root, "tfserving").attrs["State"].get("Health", {}).get("Status") == "healthy",
                 "the restarted server to be healthy", 120)
        output, _ = load.communicate(timeout=300)
    finally:
        if load.poll() is None:
            load.kill()
    assert load.returncode == 0, output[-3000:]
    summary = json.loads(next((root / "reports").glob("*-steady/summary.json")).read_text())
    (run,) = summary["runs"]
    windows = summary["failure_windows"]
    print(f"crash under load: {run['requests']} requests, {run['failures']} failed, failed windows {windows}")
    assert run["failures"] > 0 and windows, "the crash must show in the report"
    assert sum(w["failures"] for w in windows) == run["failures"]
    assert "failed requests from" in output
    # Recovered without any command: requests succeeded after the last failure, and still do.
    assert windows[-1]["end_s"] < 40
    shown = make(root, "status")
    assert "compose tfserving: running (healthy)" in shown.stdout and "version 1 AVAILABLE" in shown.stdout


def test_a_broken_models_config_edit_leaves_the_versions_serving(stack, published_model) -> None:
    root, _ = stack
    rest, _, _ = urls(root)
    config = root / "compose" / "models.config"
    good = config.read_text()
    with config.open("w") as file:  # in place: the container sees this file through a bind mount
        file.write("model_config_list { this is not a text proto")
    try:
        wait_for(lambda: "Not applying" in container(root, "tfserving").logs().decode(errors="replace"),
                 "the server to refuse the broken config", 60)
        status = requests.get(f"{rest}/v1/models/{published_model.name}", timeout=10).json()
        assert [v["state"] for v in status["model_version_status"]] == ["AVAILABLE"]
    finally:
        with config.open("w") as file:
            file.write(good)


def test_stop_leaves_no_container_or_network_and_clean_removes_the_volumes(stack) -> None:
    root, _ = stack
    project = scratch(root)
    stopped = make(root, "stop")
    assert stopped.returncode == 0 and "stopped the compose stack" in stopped.stdout, stopped.stderr
    left = compose.leftovers(project)
    assert left["containers"] == [] and left["networks"] == [] and left["volumes"], left
    cleaned = make(root, "stop", "CLEAN=1")
    assert cleaned.returncode == 0 and "removed its volumes" in cleaned.stdout, cleaned.stdout + cleaned.stderr
    assert compose.leftovers(project) == {"containers": [], "networks": [], "volumes": []}
