"""What `status` reports: the model versions the server has loaded, from its REST status API, and
the alerts firing, from Alertmanager's API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from tfserving_loadtest.versions import states as version_states


def model_versions(rest_url: str, model_name: str) -> str:
    """'version 2 AVAILABLE, version 1 AVAILABLE', or why it could not be asked."""
    try:
        states = version_states(rest_url, model_name, timeout=3)
    except requests.HTTPError as error:
        return f"HTTP {error.response.status_code}: {error.response.text.strip()}"
    except (requests.RequestException, ValueError):
        return f"no answer from {rest_url}"
    if not states:
        return f"the server does not know model {model_name}"
    return ", ".join(f"version {number} {entry['state']}" for number, entry in sorted(states.items(), reverse=True))


def firing_alerts(alertmanager_url: str) -> list[dict[str, Any]]:
    """The alerts Alertmanager holds as firing and notifies (not silenced, not inhibited), oldest
    first; requests.RequestException or ValueError when it cannot be asked."""
    reply = requests.get(f"{alertmanager_url}/api/v2/alerts", timeout=3,
                         params={"active": "true", "silenced": "false", "inhibited": "false"})
    reply.raise_for_status()
    alerts: list[dict[str, Any]] = reply.json()
    return sorted(alerts, key=lambda alert: (alert.get("startsAt", ""), alert["labels"].get("alertname", "")))


def alert_lines(alertmanager_url: str) -> list[str]:
    """'alerts: none firing', or a count and one line per firing alert: name, severity, model,
    since when, summary."""
    try:
        alerts = firing_alerts(alertmanager_url)
    except (requests.RequestException, ValueError) as error:
        return [f"alerts: no answer from Alertmanager at {alertmanager_url} ({type(error).__name__})"]
    if not alerts:
        return [f"alerts: none firing (Alertmanager {alertmanager_url})"]
    lines = [f"alerts: {len(alerts)} firing (Alertmanager {alertmanager_url})"]
    for alert in alerts:
        labels, summary = alert["labels"], alert.get("annotations", {}).get("summary", "")
        about = ", ".join(part for part in (labels.get("severity"), _model(labels)) if part)
        lines.append(f"  {labels.get('alertname', '?')}" + (f" ({about})" if about else "")
                     + f" since {_clock(alert.get('startsAt', ''))}" + (f": {summary}" if summary else ""))
    return lines


def _model(labels: dict[str, str]) -> str:
    return f"model {labels['model_name']}" if labels.get("model_name") else ""


def _clock(timestamp: str) -> str:
    """'2026-11-25 14:03:07 UTC' from Alertmanager's RFC 3339 time (nanoseconds and all)."""
    try:
        moment = datetime.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return timestamp or "?"
    zone = " UTC" if timestamp.endswith("Z") else " " + timestamp[-6:] if timestamp[-6] in "+-" else ""
    return f"{moment:%Y-%m-%d %H:%M:%S}{zone}"
