"""Fixtures of the hardening tests: the generated TF1 models and certificates from `certs`."""

from __future__ import annotations

from pathlib import Path

import pytest

from embedded_tfserving.testing import write_tf1_model
from tfserving_stack.certs import write_certs


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
