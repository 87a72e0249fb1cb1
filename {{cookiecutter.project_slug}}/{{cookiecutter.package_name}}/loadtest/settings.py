"""Defaults for CLI options: the environment first, then the project's .env (like the Makefile)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

# The folder that holds the package, loadtests/ and compose/.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = PROJECT_ROOT / "loadtests" / "locustfile.py"
COMPOSE_DIR = PROJECT_ROOT / "compose"


@lru_cache(maxsize=1)
def _env_file() -> dict[str, str]:
    path = PROJECT_ROOT / ".env"
    values: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, sep, value = line.strip().partition("=")
            if sep and not key.startswith("#"):
                values[key.strip()] = value.strip().strip("'\"")
    return values


def setting(key: str, fallback: str) -> str:
    return os.environ.get(key) or _env_file().get(key) or fallback


def model_name() -> str:
    return setting("MODEL_NAME", "ctr")


def rest_port() -> int:
    return int(setting("REST_PORT", "8501"))


def grpc_port() -> int:
    return int(setting("GRPC_PORT", "8500"))


def metrics_port() -> int:
    return int(setting("LOADTEST_METRICS_PORT", "9646"))
