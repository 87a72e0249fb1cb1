"""A model's versions, as TF Serving sees them: the integer-named folders under its base path, and
their states on a server (GET /v1/models/<name>). The swap and soak scenarios publish copies of a
version under new numbers, atomically, as a deployment would.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from . import access as access_module
from .access import Access
from .errors import LoadTestError
from .report import say

AVAILABLE = "AVAILABLE"  # ModelVersionStatus.State of a serving version
END = "END"  # ... of a version that was unloaded or failed to load


def parse_version(name: str) -> int | None:
    """The version number a folder name stands for, as TF Serving reads it (digits only), else None."""
    return int(name) if name.isdigit() else None


def published(base_path: Path) -> dict[int, Path]:
    """Version number -> folder, for the integer-named folders under a model's base path (what TF
    Serving loads; staging folders such as `.tmp-...` are not versions)."""
    if not base_path.is_dir():
        return {}
    found = {}
    for child in base_path.iterdir():
        version = parse_version(child.name)
        if version is not None and child.is_dir():
            found[version] = child
    return found


def newest(base_path: Path) -> Path:
    """The folder of the highest version under `base_path`; LoadTestError when there is none."""
    versions = published(base_path)
    if not versions:
        raise LoadTestError(f"no published version of model {base_path.name!r} under {base_path}: "
                            "a version is a folder named by its number, holding a SavedModel")
    return versions[max(versions)]


def publish_copy(source: Path, base_path: Path) -> int:
    """Copy the SavedModel folder `source` to base_path/<highest + 1>, built in a staging folder
    that TF Serving ignores (not a number) and renamed in one step, so no server ever sees half of
    it. Returns the new version's number."""
    staging = base_path / f".tmp-{uuid.uuid4().hex}"
    try:
        shutil.copytree(source, staging)
        version = max(published(base_path), default=0) + 1
        os.rename(staging, base_path / str(version))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version


def states(rest_url: str, model_name: str, access: Access | None = None,
           timeout: float = 5) -> dict[int, dict[str, Any]]:
    """Version -> its status entry ({"state", "status": {"error_code", "error_message"}}), from
    GET /v1/models/<model>; {} when the server does not know the model. Raises requests'
    errors when the server cannot be asked."""
    import requests

    access = access or access_module.current()
    reply = requests.get(f"{rest_url}/v1/models/{model_name}", timeout=timeout, headers=access.headers(),
                         verify=access.verify)
    if reply.status_code == 404:
        return {}
    reply.raise_for_status()
    return status_entries(reply.json())


def status_entries(status: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """Version -> its entry in a GET /v1/models/<model> reply's JSON."""
    return {int(v["version"]): v for v in status.get("model_version_status", [])}


def available(entries: dict[int, dict[str, Any]]) -> set[int]:
    """The versions that serve, in states' answer."""
    return {number for number, entry in entries.items() if entry.get("state") == AVAILABLE}


def is_available(rest_url: str, model_name: str, version: int | None = None, access: Access | None = None) -> bool:
    """Whether the server serves `version` (any version when None) of the model now."""
    import requests

    try:
        serving = available(states(rest_url, model_name, access, timeout=2))
    except (requests.RequestException, ValueError):
        return False
    return bool(serving) if version is None else version in serving


def restore(base: Path, before: set[int], rest_url: str, model_name: str, timeout: float = 120) -> None:
    """Remove the versions published since `before` and wait until the newest earlier one serves."""
    added = sorted(set(published(base)) - before)
    for number in added:
        shutil.rmtree(base / str(number), ignore_errors=True)
    if added:
        say(f"removed the versions this run published ({', '.join(map(str, added))}); waiting for version "
            f"{max(before)} to serve again")
        deadline = time.monotonic() + timeout
        while not is_available(rest_url, model_name, max(before)):
            if time.monotonic() > deadline:
                raise LoadTestError(f"version {max(before)} of {model_name} did not serve again within {timeout:.0f}s "
                                    f"of removing this run's versions: see the server's log")
            time.sleep(0.5)
