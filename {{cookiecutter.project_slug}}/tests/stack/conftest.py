"""Fixtures for the stack tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from stack_helpers import scratch_project


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    # The environment overrides .env (as in compose): keep the scratch .env authoritative.
    for key in ("REST_PORT", "GRPC_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT", "LOADTEST_METRICS_PORT", "MODEL_NAME", "MODELS_DIR", "SERVE_MODE"):
        monkeypatch.delenv(key, raising=False)
    return lambda models_dir=None, **settings: scratch_project(tmp_path / "project", models_dir, **settings)
