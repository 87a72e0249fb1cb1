"""Talk to a running Grafana: push the dashboards, post annotations (for the swap scenario).

Configured by environment: GRAFANA_URL (e.g. http://127.0.0.1:3000) and either GRAFANA_TOKEN (a
service account token) or GRAFANA_USER/GRAFANA_PASSWORD (default user admin, password
GRAFANA_ADMIN_PASSWORD from .env).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from ..errors import DashboardError

FOLDER_UID = "tf-serving"
FOLDER_TITLE = "TF Serving"


def _credential() -> str | tuple[str, str] | None:
    if token := os.environ.get("GRAFANA_TOKEN"):
        return token
    password = os.environ.get("GRAFANA_PASSWORD") or os.environ.get("GRAFANA_ADMIN_PASSWORD")
    if password:
        return (os.environ.get("GRAFANA_USER", "admin"), password)
    return None


def client(url: str | None = None) -> Any:
    """A grafana-client API object for GRAFANA_URL; fails clearly when unset or unreachable."""
    from grafana_client import GrafanaApi

    url = url or os.environ.get("GRAFANA_URL")
    if not url:
        raise DashboardError(
            "GRAFANA_URL is not set: export GRAFANA_URL=http://127.0.0.1:$GRAFANA_PORT (and "
            "GRAFANA_TOKEN, or GRAFANA_USER/GRAFANA_PASSWORD) to reach Grafana"
        )
    api = GrafanaApi.from_url(url, credential=_credential(), timeout=5)
    try:
        api.health.check()
    except Exception as error:  # grafana-client raises niquests and its own errors alike
        raise DashboardError(f"Grafana at {url} does not answer ({error}): is the stack up (`make serve`)?") from error
    return api


def push(dashboards: dict[str, dict[str, Any]], url: str | None = None) -> list[str]:
    """Create or overwrite each dashboard in the TF Serving folder; return their URLs."""
    from grafana_client.client import GrafanaClientError

    api = client(url)
    try:
        try:
            api.folder.get_folder(FOLDER_UID)
        except GrafanaClientError:
            api.folder.create_folder(FOLDER_TITLE, uid=FOLDER_UID)
        urls = []
        for dashboard in dashboards.values():
            reply = api.dashboard.update_dashboard(
                {"dashboard": {**dashboard, "id": None}, "folderUid": FOLDER_UID, "overwrite": True,
                 "message": "pushed by `dashboards push`"}
            )
            urls.append(api.url.rstrip("/") + reply.get("url", ""))
    except GrafanaClientError as error:
        raise DashboardError(f"Grafana refused the dashboards ({error}): check GRAFANA_TOKEN or the password") from error
    return urls


def annotate(text: str, tags: list[str] | tuple[str, ...] = ("swap",)) -> bool:
    """Post an annotation on every dashboard (orange mark for tag "swap"), now.

    A no-op returning False when GRAFANA_URL is not set, so scenarios can call it unconditionally.
    """
    if not os.environ.get("GRAFANA_URL"):
        return False
    client().annotations.add_annotation(time_from=int(time.time() * 1000), tags=list(tags), text=text)
    return True


def annotate_quietly(text: str, tags: list[str], say: Callable[[str], None]) -> None:
    """`annotate`, for experiments: a failed dashboard mark is said, never raised."""
    try:
        annotate(text, tags)
    except Exception as error:  # grafana-client raises niquests' errors and its own alike
        say(f"  (Grafana annotation failed: {error})")
