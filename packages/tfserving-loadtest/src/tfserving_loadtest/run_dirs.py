"""Where a run writes: reports_dir/<local start time>-<scenario>/, and when a run started, read back
from its folder's name (the dashboards draw the run's window from it). A leaf: imports nothing of
the toolkit."""

from __future__ import annotations

import re
import time
from pathlib import Path

# A run's folder: reports_dir/<local start time, RUN_STAMP>-<scenario>.
RUN_STAMP = "%Y%m%d-%H%M%S"
RUN_FOLDER = re.compile(r"^(\d{8}-\d{6})-")


def run_dir_path(reports_dir: Path, scenario: str) -> Path:
    """reports_dir/<timestamp>-<scenario>: where a run of `scenario` started now writes (not made yet)."""
    return reports_dir / f"{time.strftime(RUN_STAMP)}-{scenario}"


def run_started(run_dir: Path) -> float | None:
    """When the run writing into `run_dir` started (Unix seconds), from the folder's name; None for
    a folder not named like a run's."""
    match = RUN_FOLDER.match(run_dir.name)
    return time.mktime(time.strptime(match.group(1), RUN_STAMP)) if match else None


def new_run_dir(reports_dir: Path, scenario: str) -> Path:
    path = run_dir_path(reports_dir, scenario)
    path.mkdir(parents=True, exist_ok=False)
    return path
