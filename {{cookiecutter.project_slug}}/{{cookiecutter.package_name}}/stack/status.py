"""What `status` reports: the model versions the server has loaded, from its REST status API."""

from __future__ import annotations

import requests


def model_versions(rest_url: str, model_name: str) -> str:
    """'version 2 AVAILABLE, version 1 AVAILABLE', or why it could not be asked."""
    try:
        reply = requests.get(f"{rest_url}/v1/models/{model_name}", timeout=3)
    except requests.RequestException:
        return f"no answer from {rest_url}"
    if not reply.ok:
        return f"HTTP {reply.status_code}: {reply.text.strip()}"
    versions = reply.json().get("model_version_status", [])
    return ", ".join(f"version {v['version']} {v['state']}" for v in versions) or "no versions"
