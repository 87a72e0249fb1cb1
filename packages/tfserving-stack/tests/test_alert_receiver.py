"""The webhook receiver Alertmanager notifies, as `serve` starts it (`tfserving-stack alerts
receive`, a child process): it appends each notification to run/alerts.jsonl and lists them, and
refuses what is not a notification."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from tfserving_stack import alertmanager
from tfserving_stack.alert_receiver import read_notifications
from tfserving_stack.project import Project

# Alertmanager's webhook body (version 4), as it sends one for a firing alert.
FIRING_ALERT = {"status": "firing", "labels": {"alertname": "ModelServerDown", "severity": "page"},
                "annotations": {"summary": "the model server is down"}, "startsAt": "2026-11-25T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://127.0.0.1:9090/graph",
                "fingerprint": "5f1c1fd8b4c1d2a3"}
NOTIFICATION: dict[str, Any] = {
    "version": "4", "groupKey": '{}:{alertname="ModelServerDown"}', "truncatedAlerts": 0, "status": "firing",
    "receiver": "webhook", "groupLabels": {"alertname": "ModelServerDown"},
    "commonLabels": {"alertname": "ModelServerDown", "severity": "page"},
    "commonAnnotations": {"summary": "the model server is down"}, "externalURL": "http://127.0.0.1:9093",
    "alerts": [FIRING_ALERT],
}


@pytest.fixture
def receiver(make_project):
    """The receiver as `serve` starts it (`alerts receive`, a child process) in a scratch project."""
    project = Project.load(make_project(with_model=False))
    child = alertmanager.receiver_process(project, project.root / "receiver.log")
    port = project.port("ALERT_WEBHOOK_PORT")
    child.spawn()
    try:
        child.wait_until(lambda: alertmanager.receiver_is_ready(port), 60, "the alert receiver")
        yield project, f"http://127.0.0.1:{port}/alerts"
    finally:
        child.stop(timeout=10)


def test_the_receiver_appends_each_notification_and_lists_them(receiver) -> None:
    project, url = receiver
    assert requests.get(url, timeout=5).json() == []
    reply = requests.post(url, json=NOTIFICATION, timeout=5)
    assert reply.status_code == 200, reply.text
    resolved = {**NOTIFICATION, "status": "resolved",
                "alerts": [{**FIRING_ALERT, "status": "resolved", "endsAt": "2026-11-25T10:05:00Z"}]}
    assert requests.post(url, json=resolved, timeout=5).ok

    listed = requests.get(url, timeout=5).json()
    assert [n["status"] for n in listed] == ["firing", "resolved"]
    assert listed[0]["alerts"] == NOTIFICATION["alerts"] and listed[0]["groupKey"] == NOTIFICATION["groupKey"]
    assert all(datetime.fromisoformat(n["received_at"]).tzinfo is not None for n in listed)
    lines = alertmanager.notifications_file(project).read_text().splitlines()
    assert [json.loads(line) for line in lines] == listed


@pytest.mark.parametrize("body", [b"not json", b"[]", json.dumps({"status": "firing"}).encode(),
                                  json.dumps({**NOTIFICATION, "status": "pending"}).encode()])
def test_the_receiver_refuses_what_is_not_a_notification(receiver, body: bytes) -> None:
    project, url = receiver
    reply = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=5)
    assert reply.status_code == 400
    assert "expected an Alertmanager webhook notification" in reply.json()["error"]
    assert alertmanager.notifications_file(project).read_text() == ""


def test_a_line_cut_short_is_skipped(tmp_path: Path) -> None:
    """A receiver killed while writing leaves half a line: the notifications before it still read."""
    path = tmp_path / "alerts.jsonl"
    path.write_text(json.dumps(NOTIFICATION) + "\n" + json.dumps(NOTIFICATION)[:40])
    assert read_notifications(path) == [NOTIFICATION]
    assert read_notifications(tmp_path / "missing.jsonl") == []


