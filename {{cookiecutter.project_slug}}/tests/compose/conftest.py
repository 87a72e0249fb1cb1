"""Fixtures of the compose tests: a real Docker engine with Compose v2, this project's local images
(`make images`), and scratch copies of the project whose stack runs on them.

Without an engine these tests skip, saying why; with REQUIRE_DOCKER=1 (CI) they fail instead.
Grafana cannot run here (no image), so no test needs it; the stack leaves it out and says so.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tfserving_stack import images, mode
from tfserving_stack.errors import StackError

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

from ..helpers import PublishedModel, make
from .support import compose_project, serve, tear_down


def unavailable(message: str) -> None:
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(message + ", and REQUIRE_DOCKER=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    error = mode.docker_engine_error()
    if error is not None:
        unavailable(f"no Docker engine answers ({error}): these tests run the compose stack on a real engine "
                    "(see ../shared/reference/docker-here.md for one without systemd; CI starts one)")
    try:
        mode.require_compose_plugin()
    except StackError as missing:
        unavailable(f"the Docker Compose v2 plugin is not installed: {missing}")


@pytest.fixture(scope="session")
def local_images(docker_engine: None) -> dict[str, str]:
    """The .env settings of this project's local images, built by `make images` unless all are there
    and the model server's was built from this project's pins."""
    project = settings.project()
    local = images.local_settings(project)
    missing = images.unavailable(dict(local), project)
    if missing:
        if shutil.which("mmdebstrap") is None:
            unavailable("the local images are not built and mmdebstrap, which `make images` needs, is not "
                        "installed (apt-get install mmdebstrap)")
        built = make(PROJECT_ROOT, "images", timeout=1800)
        print(built.stdout + built.stderr[-3000:])
        assert built.returncode == 0, built.stdout + built.stderr
        assert f"TFSERVING_IMAGE={local['TFSERVING_IMAGE']}" in built.stdout  # says how to point .env at them
        # The model server carries the digest of the pins it installed, so the next run reuses it.
        assert not images.unavailable(dict(local), project), "the images just built count as missing"
    return local


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, published_model: PublishedModel,
          local_images: dict[str, str]) -> Iterator[tuple[Path, str]]:
    """`make serve` in compose mode on a scratch project: (its root, what `serve` printed)."""
    root = compose_project(tmp_path_factory.mktemp("compose") / "project", published_model, local_images)
    try:
        served = serve(root)
        assert served.returncode == 0, served.stdout + served.stderr
        yield root, served.stdout + served.stderr
    finally:
        tear_down(root)
