"""Helpers shared by tests/stack and tests/dashboards: scratch projects with free ports, tool lookup."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Callable

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scratch_project(root: Path, models_dir: Path | None = None, **settings: str) -> Path:
    """A project root holding .env (free ports, `settings` on top) and compose/; models/ empty or linked."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "compose", root / "compose")
    ports = {key: str(free_port()) for key in ("REST_PORT", "GRPC_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT", "LOADTEST_METRICS_PORT")}
    lines = [
        line for line in (PROJECT_ROOT / ".env").read_text().splitlines()
        if line.split("=", 1)[0] not in {**ports, **settings}
    ]
    lines += [f"{key}={value}" for key, value in {**ports, **settings}.items()]
    (root / ".env").write_text("\n".join(lines) + "\n")
    if models_dir is not None:
        (root / "models").symlink_to(models_dir, target_is_directory=True)
    else:
        (root / "models").mkdir()
    return root


def require_prometheus_tool(name: str) -> str:
    """Path of promtool/prometheus; skip when absent unless REQUIRE_PROMETHEUS=1 (CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed (apt-get install prometheus)"
        if os.environ.get("REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message + " and REQUIRE_PROMETHEUS=1")
        pytest.skip(message)
    return path
