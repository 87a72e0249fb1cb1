"""Alerts end to end on the real processes: the embedded server under a short Locust load,
Prometheus evaluating the shipped rules (compose/rules/), Alertmanager (compose/alertmanager.yml)
and the webhook receiver, as `serve` starts them. A corrupt version is published, then the server
is killed; each alert must reach the receiver as a "firing" notification, then as "resolved" once
the fault is fixed. The time from each fault (and fix) to its notification is printed.

Only intervals are shortened, by configuration, never the rules: Prometheus scrapes and evaluates
every second, Alertmanager groups and re-notifies after a second, and the scratch project's
compose file retries a failed version load every 2 s instead of TF Serving's 60 s. So the times
measured are the rules' own `for:` plus about two seconds of plumbing; with the shipped intervals
(5 s scrape and evaluation, group_wait 10 s, group_interval 1 m) add up to 15 s to a first
notification and up to a minute to a resolved one.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests
import yaml

from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import wait_for
from tfserving_stack import embedded, processes
from tfserving_stack.project import Project

from {{ cookiecutter.package_name }}.contract import version_states
from {{ cookiecutter.package_name }}.export.publish import publish_version
from {{ cookiecutter.package_name }}.loadtest import locust_run  # the toolkit's, configured for this project

from .. import helpers
from ..helpers import copy_project, read_env, require_alertmanager, require_prometheus_tool

pytestmark = pytest.mark.slow

ALERT_TIMING = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}
LOAD_RETRY_MICROS = 2_000_000  # TF Serving's default: a minute between the attempts to load a version


@dataclass
class Notified:
    alertname: str
    status: str  # firing | resolved
    at: float  # when the receiver got it (epoch seconds)
    labels: dict[str, str]


def notified(receiver_url: str) -> list[Notified]:
    """Every alert of every notification the receiver got, as its GET /alerts lists them."""
    return [Notified(alert["labels"]["alertname"], alert["status"],
                     datetime.fromisoformat(notification["received_at"]).timestamp(), alert["labels"])
            for notification in requests.get(receiver_url, timeout=5).json() for alert in notification["alerts"]]


def first(receiver_url: str, alertname: str, status: str, after: float) -> Notified | None:
    return next((n for n in notified(receiver_url) if n.alertname == alertname and n.status == status and n.at >= after),
                None)


def wait_notified(receiver_url: str, alertname: str, status: str, after: float, timeout: float) -> float:
    """Seconds from `after` (a fault or a fix) until the receiver got `alertname` as `status`."""
    wait_for(lambda: first(receiver_url, alertname, status, after), f"a {status} {alertname} notification", timeout,
             interval=0.2)
    found = first(receiver_url, alertname, status, after)
    assert found is not None
    return found.at - after


@pytest.fixture
def stack(tmp_path: Path, published_model, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Project, embedded.Urls]]:
    """The embedded stack with Prometheus and Alertmanager on a scratch project (free ports, its
    own copy of the published model, which the test publishes into)."""
    require_prometheus_tool("prometheus")
    require_alertmanager()
    for key in (*helpers.PORT_SETTINGS, "MODEL_NAME", "MODELS_DIR"):
        monkeypatch.delenv(key, raising=False)
    models = tmp_path / "models"
    shutil.copytree(published_model.base_path / str(published_model.version), models / published_model.name / "1")
    # Scratch projects link models/ to this copy: the test publishes into it.
    root = helpers.scratch_project(tmp_path / "project", models, MODEL_NAME=published_model.name)
    compose = root / "compose" / "docker-compose.yml"
    poll_flag = "- --file_system_poll_wait_seconds=1\n"
    assert poll_flag in compose.read_text()
    compose.write_text(compose.read_text().replace(
        poll_flag, f"{poll_flag}    - --load_retry_interval_micros={LOAD_RETRY_MICROS}\n", 1))
    project = Project.load(root)
    try:
        yield project, embedded.start(project, timeout=180, scrape_interval="1s", alert_timing=ALERT_TIMING)
    finally:
        embedded.stop(project)


def publish_corrupt(base: Path, good: Path) -> int:
    """The next version, whose saved_model.pb is garbage, published atomically (as the swap
    scenario's corrupt step does); its number."""
    version = max(int(p.name) for p in base.iterdir() if p.name.isdigit()) + 1
    staging = base / f".corrupt-{version}"
    shutil.copytree(good, staging)
    (staging / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    os.rename(staging, base / str(version))
    return version


def kill_server(project: Project) -> None:
    """SIGKILL, as a crash or the OOM killer: no graceful shutdown."""
    (record,) = [r for r in processes.recorded(project.run_dir) if r.name == embedded.SERVER]
    process = record.process()
    assert process is not None, "the server is not running"
    process.kill()
    process.wait(10)


def restart_server(project: Project) -> None:
    """What `make serve` runs for the server, recorded so that `stop` stops it."""
    server = ServerProcess(embedded.server_flags(project), project.run_dir / "server-restarted.log",
                           cwd=project.root, detach=True)
    processes.record(embedded.SERVER, server.spawn(), project.run_dir)
    server.wait_ready(180)


def test_a_corrupt_version_and_a_dead_server_alert_and_resolve(stack, tmp_path: Path) -> None:
    project, urls = stack
    assert urls.prometheus and urls.alertmanager and urls.alert_receiver
    name, base = project.model_name, project.models_dir / project.model_name
    good = base / "1"
    done = threading.Event()
    spec = locust_run.LocustRun(label="alerts", out_dir=tmp_path / "locust", host=urls.rest, model_name=name,
                                protocol="both", users=2, seconds=300, grpc_target=urls.grpc,
                                metrics_port=project.port("LOADTEST_METRICS_PORT"))
    results: list[locust_run.LocustResult] = []
    load = threading.Thread(target=lambda: results.append(locust_run.run(spec, progress=lambda _: None,
                                                                         stop_when=done.is_set)))
    load.start()
    figures: dict[str, float] = {}
    try:
        # Prometheus has the server's and the load generator's series, and loaded the rules.
        def scraped() -> bool:
            targets = requests.get(f"{urls.prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return {t["labels"]["job"] for t in targets if t["health"] == "up"} >= {"tfserving", "loadtest"}

        wait_for(scraped, "Prometheus to scrape the server and Locust", 60)
        groups = requests.get(f"{urls.prometheus}/api/v1/rules", timeout=5).json()["data"]["groups"]
        alerts = {rule["name"] for group in groups for rule in group["rules"] if rule["type"] == "alerting"}
        assert {"ModelServerDown", "ModelVersionLoadFailed"} <= alerts, alerts
        managers = requests.get(f"{urls.prometheus}/api/v1/alertmanagers", timeout=5).json()["data"]
        assert [m["url"] for m in managers["activeAlertmanagers"]] == [f"{urls.alertmanager}/api/v2/alerts"]

        # Fault 1: a corrupt version. The previous one keeps serving; the failed load alerts.
        published = time.time()
        corrupt = publish_corrupt(base, good)
        figures["ModelVersionLoadFailed fired"] = wait_notified(urls.alert_receiver, "ModelVersionLoadFailed",
                                                                "firing", published, 60)
        (fired,) = [n for n in notified(urls.alert_receiver)
                    if n.alertname == "ModelVersionLoadFailed" and n.status == "firing"]
        assert fired.labels["model_name"] == name and fired.labels["severity"] == "ticket"
        assert fired.labels["model_path"].endswith(f"/{corrupt}")
        # Fix: the broken folder moved away and a good export published under its number (what
        # `make export` does once the broken folder is gone); a retry of the load takes it.
        os.rename(base / str(corrupt), base / f".broken-{corrupt}")
        fixed = time.time()
        assert publish_version(good, project.models_dir, name, version=corrupt) == corrupt
        figures["ModelVersionLoadFailed resolved"] = wait_notified(urls.alert_receiver, "ModelVersionLoadFailed",
                                                                   "resolved", fixed, 60)
        assert version_states(urls.rest, name)[corrupt]["state"] == "AVAILABLE"

        # Fault 2: the server dies under load. `for: 1m` in the rule, so about a minute.
        killed = time.time()
        kill_server(project)
        figures["ModelServerDown fired"] = wait_notified(urls.alert_receiver, "ModelServerDown", "firing", killed, 120)
        restarted = time.time()
        restart_server(project)
        available = time.time()
        figures["server restart (to AVAILABLE)"] = available - restarted
        # Counted from AVAILABLE, but looked for from the restart: the first good scrape may come
        # a moment before wait_ready saw the model AVAILABLE.
        figures["ModelServerDown resolved (after AVAILABLE)"] = wait_notified(
            urls.alert_receiver, "ModelServerDown", "resolved", restarted, 60) - (available - restarted)
        status = embedded.running(project)
        assert {r.name for r in status} == {embedded.SERVER, embedded.PROMETHEUS, embedded.ALERTMANAGER,
                                            embedded.RECEIVER}
    finally:
        done.set()
        load.join(120)
    seen = notified(urls.alert_receiver)
    print("\nfault (or fix) -> notification at the receiver, seconds (scrape/eval 1s, group_wait/interval 1s):")
    for what, seconds in figures.items():
        print(f"  {what}: {seconds:.1f}")
    print("every notified alert:", sorted({(n.alertname, n.status) for n in seen}))
    assert results and results[0].requests > 0, results
    # Nothing else fired: a short healthy load and these two faults trip no other rule.
    assert {n.alertname for n in seen} == {"ModelVersionLoadFailed", "ModelServerDown"}, seen


def test_serve_without_alertmanager_says_what_it_left_out(tmp_path: Path, published_model) -> None:
    """`make serve` where Prometheus is installed and Alertmanager is not (a PATH without it):
    the stack serves and says how to add Alertmanager; `make status` says none is running."""
    require_prometheus_tool("prometheus")
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "prometheus"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    root = copy_project(tmp_path / "project", Path(published_model.models_dir), MODEL_NAME=published_model.name)
    env = {"PATH": str(bin_dir)}
    try:
        served = helpers.make(root, "serve", "SERVE_MODE=embedded", timeout=300, env=env)
        assert served.returncode == 0, served.stdout + served.stderr
        assert "prometheus-alertmanager is not installed" in served.stdout
        assert "apt-get install prometheus-alertmanager" in served.stdout
        assert f"Prometheus http://127.0.0.1:{read_env(root)['PROMETHEUS_PORT']}" in served.stdout
        shown = helpers.make(root, "status", env=env)
        assert "alerts: Alertmanager is not running" in shown.stdout, shown.stdout
        assert {p.name for p in (root / "run" / "embedded").glob("*.pid.json")} == {"server.pid.json",
                                                                                     "prometheus.pid.json"}
        # No Alertmanager to send to: the local Prometheus evaluates the rules and sends nothing.
        local = yaml.safe_load((root / "run" / "embedded" / "prometheus.yml").read_text())
        assert "alerting" not in local and local["rule_files"]
    finally:
        stopped = helpers.make(root, "stop", env=env)
    assert "stopped server" in stopped.stdout and "stopped prometheus" in stopped.stdout, stopped.stdout
