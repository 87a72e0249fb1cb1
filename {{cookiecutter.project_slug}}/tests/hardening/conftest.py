"""Servers for the hardening tests: the generated TF1 model (y = 0.5x + 2, input x [-1, 1]) behind the
embedded server, plain or with TLS and API keys. Every server binds 127.0.0.1 on free ports and is
stopped by its fixture."""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from {{ cookiecutter.package_name }}.certs import write_certs
from {{ cookiecutter.package_name }}.serving.process import EmbeddedServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_models import publish, write_tf1_model  # noqa: E402

MODEL = "hp2"
PREDICT_BODY = b'{"instances": [[1.0], [2.0]]}'


class SecureServer(EmbeddedServer):
    """EmbeddedServer whose readiness probe speaks TLS (trusting `ca`) and sends an API key."""

    def __init__(self, flags: list[str], *, ca: Path | None = None, api_key: str = "", **kwargs) -> None:
        super().__init__(flags, **kwargs)
        self.ca, self.api_key = ca, api_key

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.rest_port}"

    def _available(self) -> bool:
        request = urllib.request.Request(f"{self.rest_url}/v1/models/{self.model_name}",
                                         headers={"X-API-Key": self.api_key} if self.api_key else {})
        context = ssl.create_default_context(cafile=str(self.ca)) if self.ca else None
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as reply:
                status = json.loads(reply.read())
        except (OSError, ValueError):
            return False
        return any(v.get("state") == "AVAILABLE" for v in status.get("model_version_status", []))


@pytest.fixture(scope="session")
def tf1_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tf1_model(tmp_path_factory.mktemp("tf1") / "1")


@pytest.fixture(scope="session")
def slow_tf1_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF1 model whose predict spins a while: a batch holds its thread, so queues fill."""
    return write_tf1_model(tmp_path_factory.mktemp("tf1slow") / "1", slow_iterations=200_000)


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_certs(tmp_path_factory.mktemp("certs"))


def api_key(certs: dict[str, Path]) -> str:
    return next(line for line in certs["api_keys.txt"].read_text().splitlines() if line and not line.startswith("#"))


def model_folder(root: Path, version_dir: Path) -> Path:
    base = root / MODEL
    publish(version_dir, base, 1)
    return base


def batching_file(folder: Path, **fields: int) -> Path:
    path = folder / "batching.conf"
    path.write_text("\n".join("%s { value: %d }" % item for item in fields.items()))
    return path


@pytest.fixture(scope="module")
def plain_server(tf1_version: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """Batching on (max_batch_size 1000), 2 MiB request limit, 1 s header/body read timeouts."""
    folder = tmp_path_factory.mktemp("plain")
    base = model_folder(folder, tf1_version)
    batching = batching_file(folder, max_batch_size=1000, batch_timeout_micros=1000, max_enqueued_batches=100)
    flags = [f"--model_name={MODEL}", f"--model_base_path={base}", "--enable_batching",
             f"--batching_parameters_file={batching}", f"--max_request_bytes={2 << 20}",
             "--rest_header_timeout_seconds=1", "--rest_body_timeout_seconds=1"]
    with EmbeddedServer(flags, log_path=folder / "server.log") as server:
        server.start()
        yield server
