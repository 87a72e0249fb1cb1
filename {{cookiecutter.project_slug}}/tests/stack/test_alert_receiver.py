"""This project's Alertmanager config and a real Alertmanager notifying the webhook receiver: what
`make serve` starts next to Prometheus, checked without a model server or Prometheus (alerts are
posted to Alertmanager's API as Prometheus posts them). The receiver itself is tested in the stack
package's suite; the end-to-end path from the rules is tests/stack/test_alerts_end_to_end.py."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml

from embedded_tfserving.testing import wait_for
from tfserving_stack import alertmanager, embedded
from tfserving_stack.alert_receiver import read_notifications
from tfserving_stack.project import Project

from ..helpers import require_alertmanager
from .test_stack_commands import cli


def test_the_local_config_points_alertmanager_at_the_local_receiver(make_project) -> None:
    project = Project.load(make_project())
    compose_config = yaml.safe_load((project.compose_dir / "alertmanager.yml").read_text())
    local = alertmanager.local_config(compose_config, "127.0.0.1:19095",
                                      {"group_wait": "1s", "resolve_timeout": "30s"})
    (hook,) = [hook for receiver in local["receivers"] for hook in receiver["webhook_configs"]]
    assert hook["url"] == "http://127.0.0.1:19095/alerts" and hook["send_resolved"]
    assert local["route"]["group_wait"] == "1s" and local["global"]["resolve_timeout"] == "30s"
    assert local["route"]["receiver"] == compose_config["route"]["receiver"]
    assert compose_config["route"]["group_wait"] != "1s"  # the compose config is left as it was
    with pytest.raises(ValueError, match="group_waits is not one of"):
        alertmanager.local_config(compose_config, "127.0.0.1:1", {"group_waits": "1s"})


def test_the_shipped_and_the_local_alertmanager_configs_pass_amtool(make_project, tmp_path: Path) -> None:
    require_alertmanager()
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (it comes with prometheus-alertmanager)")
    project = Project.load(make_project())
    local = alertmanager.write_local_config(project, tmp_path / "alertmanager.yml", {"group_interval": "1s"})
    for path in (project.compose_dir / "alertmanager.yml", local):
        result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def post_alert(alertmanager_url: str, ends_at: datetime | None = None) -> None:
    """What Prometheus sends for a firing alert (and, with a past endsAt, for a resolved one)."""
    alert = {"labels": {"alertname": "ModelServerDown", "severity": "page", "model_name": "ctr", "job": "tfserving"},
             "annotations": {"summary": "the model server does not answer Prometheus' scrapes"},
             "startsAt": (datetime.now(UTC) - timedelta(seconds=30)).isoformat(),
             "generatorURL": "http://127.0.0.1:9090/graph"}
    if ends_at is not None:
        alert["endsAt"] = ends_at.isoformat()
    reply = requests.post(f"{alertmanager_url}/api/v2/alerts", json=[alert], timeout=5)
    assert reply.ok, reply.text


def test_alertmanager_notifies_the_receiver_and_status_lists_the_firing_alert(make_project) -> None:
    """Alertmanager and the receiver as `serve` starts them (recorded, so `status` and `stop` see
    them): an alert goes out as a firing notification, shows in `status`, then resolves."""
    binary = require_alertmanager()
    project = Project.load(make_project())
    url = f"http://127.0.0.1:{project.port('ALERTMANAGER_PORT')}"
    try:
        embedded.start_alerting(project, binary, {"group_wait": "0s", "group_interval": "1s"})
        post_alert(url)
        file = alertmanager.notifications_file(project)
        wait_for(lambda: read_notifications(file), "Alertmanager's first notification", 30)
        (firing,) = read_notifications(file)
        assert firing["status"] == "firing" and firing["alerts"][0]["labels"]["model_name"] == "ctr"

        shown = cli(project.root, "status")
        assert shown.returncode == 0, shown.stderr
        assert f"alerts: 1 firing (Alertmanager {url})" in shown.stdout, shown.stdout
        assert "  ModelServerDown (page, model ctr) since " in shown.stdout
        assert ": the model server does not answer Prometheus' scrapes" in shown.stdout

        post_alert(url, ends_at=datetime.now(UTC) - timedelta(seconds=1))
        wait_for(lambda: read_notifications(file)[-1]["status"] == "resolved", "the resolved notification", 30)
        shown = cli(project.root, "status")
        assert f"alerts: none firing (Alertmanager {url})" in shown.stdout, shown.stdout
    finally:
        stopped = embedded.stop(project)
    assert [name.split()[0] for name in stopped] == [embedded.ALERTMANAGER, embedded.RECEIVER]
