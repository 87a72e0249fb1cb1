"""What `status` reports: the model versions the server has loaded, from its REST status API."""

from __future__ import annotations

import requests

from ..contract import version_states


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
