"""`make serve` refuses, before starting anything, what the engine cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.stack import compose

from .support import compose_project, scratch, serve, tear_down

pytestmark = pytest.mark.slow


def test_a_tf_serving_image_neither_here_nor_pullable_stops_serve_before_anything_starts(
        tmp_path: Path, published_model, docker_engine) -> None:
    root = compose_project(tmp_path / "project", published_model, {},
                           TFSERVING_IMAGE=f"localhost/{tmp_path.name.lower()}/tfserving:missing")
    try:
        served = serve(root)
        assert served.returncode != 0
        message = served.stderr
        assert "neither here nor pullable" in message and "tfserving:missing" in message, message
        assert "make images && make use-local-images" in message and "SERVE_MODE=embedded make serve" in message
        assert "Traceback" not in message
        assert compose.leftovers(scratch(root)) == {"containers": [], "networks": [], "volumes": []}
    finally:
        tear_down(root)
