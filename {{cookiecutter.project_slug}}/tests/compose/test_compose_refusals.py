"""`make serve` refuses, before starting anything, what the engine cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfserving_stack import compose

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


def test_a_receiver_image_not_built_leaves_the_alert_receiver_out_and_says_so(
        tmp_path: Path, published_model, local_images: dict[str, str]) -> None:
    """The receiver runs on the project's Python image (LOCUST_IMAGE), which no registry has:
    without it the stack still starts, Alertmanager included."""
    root = compose_project(tmp_path / "project", published_model, local_images,
                           LOCUST_IMAGE=f"localhost/{tmp_path.name.lower()}/locust:missing")
    try:
        served = serve(root)
        assert served.returncode == 0, served.stdout + served.stderr
        assert "the alert receiver's image" in served.stdout and "locust:missing" in served.stdout, served.stdout
        assert "build alert-receiver" in served.stdout
        running = {c.service for c in compose.containers(scratch(root)) if c.status == "running"}
        assert {"tfserving", "prometheus", "alertmanager"} <= running and "alert-receiver" not in running, running
    finally:
        tear_down(root)
