"""The project's settings and folders. A setting comes from the environment first, then from the
project's .env (names, ports, images), as docker compose and the Makefile read them."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

# The folder that holds the package, .env, compose/ and loadtests/.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = PROJECT_ROOT / "compose"
LOCUSTFILE = PROJECT_ROOT / "loadtests" / "locustfile.py"
CANARY_LOCUSTFILE = PROJECT_ROOT / "loadtests" / "canary.py"  # GrpcCanaryUser, apart (see its docstring)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file; comments and blank lines skipped, quotes stripped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


@lru_cache(maxsize=1)
def _env_file() -> dict[str, str]:
    path = PROJECT_ROOT / ".env"
    return read_env_file(path) if path.is_file() else {}


def setting(key: str, fallback: str = "") -> str:
    return os.environ.get(key) or _env_file().get(key) or fallback


def models_dir() -> Path:
    """TF Serving's model root, where export publishes and serve serves: MODELS_DIR, else models/."""
    return Path(setting("MODELS_DIR", "models"))


def model_name() -> str:
    return setting("MODEL_NAME", "ctr")


def rest_port() -> int:
    return int(setting("REST_PORT", "8501"))


def grpc_port() -> int:
    return int(setting("GRPC_PORT", "8500"))


def metrics_port() -> int:
    return int(setting("LOADTEST_METRICS_PORT", "9646"))


def prometheus_url() -> str:
    """The project's Prometheus, embedded or compose (both listen on PROMETHEUS_PORT)."""
    return f"http://127.0.0.1:{setting('PROMETHEUS_PORT', '9090')}"


def slo_p99_ms() -> float:
    """The latency objective: 99% of requests faster than this (.env SLO_P99_MS; alerts use it too)."""
    return float(setting("SLO_P99_MS", "100"))
