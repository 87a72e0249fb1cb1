"""Fixtures of the hardening tests: the generated TF1 model, certificates, a plain server."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from {{ cookiecutter.package_name }}.certs import write_certs
from {{ cookiecutter.package_name }}.serving.process import EmbeddedServer

from hardening_helpers import MODEL, batching_file, model_folder, write_tf1_model


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


@pytest.fixture(scope="module")
def plain_server(tf1_version: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """Batching on (max_batch_size 1000), 2 MiB request limit, 1 s header/body read timeouts."""
    folder = tmp_path_factory.mktemp("plain")
    base = model_folder(folder, tf1_version)
    batching = batching_file(folder, max_batch_size=1000, batch_timeout_micros=1000, max_enqueued_batches=100)
    flags = ["--port=0", f"--model_name={MODEL}", f"--model_base_path={base}", "--enable_batching",
             f"--batching_parameters_file={batching}", f"--max_request_bytes={2 << 20}",
             "--rest_header_timeout_seconds=1", "--rest_body_timeout_seconds=1"]
    with EmbeddedServer(flags, log_path=folder / "server.log") as server:
        server.start()
        yield server
