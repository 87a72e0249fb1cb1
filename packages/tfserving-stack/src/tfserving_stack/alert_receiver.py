"""The webhook receiver that Alertmanager notifies: the project's stand-in for a pager or a chat
channel, small enough to read in a minute.

Alertmanager POSTs one notification per alert group to /alerts: a JSON object whose `status` is
"firing" or "resolved" and whose `alerts` list holds each alert with its labels (alertname,
severity, model_name), annotations (summary, description, dashboard), startsAt and endsAt. Each
notification is appended as one line to run/alerts.jsonl, with the time it arrived
(`received_at`); GET /alerts lists them all, oldest first. `tfserving-stack alerts receive`
runs it, and `make serve` starts it next to Alertmanager.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from aiohttp import web

from .errors import StackError

NOTIFICATIONS_FILE = web.AppKey("notifications_file", Path)
# Alertmanager sends every alert of a group in one body; a few MB holds thousands of them.
MAX_BODY_BYTES = 8 * 1024 * 1024


def read_notifications(path: Path) -> list[dict[str, Any]]:
    """The notifications recorded in `path`, oldest first; a line cut short (the receiver was
    killed while writing it) is skipped rather than failing the whole list."""
    if not path.is_file():
        return []
    notifications = []
    for line in path.read_text().splitlines():
        try:
            notifications.append(json.loads(line))
        except ValueError:
            continue
    return notifications


def is_notification(payload: object) -> TypeGuard[dict[str, Any]]:
    """Whether `payload` has the shape of Alertmanager's webhook body (version 4)."""
    return (isinstance(payload, dict) and payload.get("status") in ("firing", "resolved")
            and isinstance(payload.get("alerts"), list))


async def receive(request: web.Request) -> web.Response:
    try:
        payload = await request.json()
    except ValueError:
        payload = None
    if not is_notification(payload):
        return web.json_response(
            {"error": "expected an Alertmanager webhook notification: a JSON object with status "
                      "'firing' or 'resolved' and a list of alerts"}, status=400)
    record = {"received_at": datetime.now(UTC).isoformat(), **payload}
    path = request.app[NOTIFICATIONS_FILE]
    # One write of one line per notification, from the one event loop: lines never interleave.
    with path.open("a") as file:
        file.write(json.dumps(record) + "\n")
    return web.json_response({"recorded": len(payload["alerts"])})


async def list_notifications(request: web.Request) -> web.Response:
    return web.json_response(read_notifications(request.app[NOTIFICATIONS_FILE]))


def make_app(notifications_file: Path) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[NOTIFICATIONS_FILE] = notifications_file
    app.router.add_post("/alerts", receive)
    app.router.add_get("/alerts", list_notifications)
    return app


def serve(host: str, port: int, notifications_file: Path) -> None:
    """Run the receiver until SIGINT or SIGTERM."""
    notifications_file.parent.mkdir(parents=True, exist_ok=True)
    notifications_file.touch()
    try:
        web.run_app(make_app(notifications_file), host=host, port=port, print=None)
    except OSError as error:
        raise StackError(f"the alert receiver cannot listen on {host}:{port} ({error.strerror}): stop what "
                         "uses the port (`make stop` if it is this project's) or set ALERT_WEBHOOK_PORT in .env") from None
