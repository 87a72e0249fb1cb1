"""Defaults for CLI options: the environment first, then the project's .env (like the Makefile)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from ..envfile import read_env_file

# The folder that holds the package, loadtests/ and compose/.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = PROJECT_ROOT / "loadtests" / "locustfile.py"
COMPOSE_DIR = PROJECT_ROOT / "compose"


@lru_cache(maxsize=1)
def _env_file() -> dict[str, str]:
    path = PROJECT_ROOT / ".env"
    return read_env_file(path) if path.is_file() else {}


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


# --- access control (off unless set; see certs.py and compose/README.md "Secure profile") ---------

def ca_file() -> str:
    """SERVING_CA_FILE: the CA that signed the server's certificate; set means TLS (https, secure gRPC)."""
    return setting("SERVING_CA_FILE", "")


def api_key() -> str:
    """SERVING_API_KEY, else the first key in SERVING_API_KEY_FILE (e.g. certs/api_keys.txt)."""
    key = setting("SERVING_API_KEY", "")
    path = setting("SERVING_API_KEY_FILE", "")
    if not key and path:
        lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text().splitlines())
        key = next((line for line in lines if line), "")
    return key


def auth_headers() -> dict[str, str]:
    key = api_key()
    return {"Authorization": f"Bearer {key}"} if key else {}


def grpc_metadata() -> tuple[tuple[str, str], ...]:
    key = api_key()
    return (("authorization", f"Bearer {key}"),) if key else ()


def requests_verify() -> str | bool:
    """`verify=` for requests: the CA file when set, else the system's trust store."""
    return ca_file() or True


def grpc_channel_credentials() -> object | None:
    """TLS credentials trusting SERVING_CA_FILE, or None for a plain channel."""
    if not ca_file():
        return None
    import grpc

    return grpc.ssl_channel_credentials(root_certificates=Path(ca_file()).read_bytes())
