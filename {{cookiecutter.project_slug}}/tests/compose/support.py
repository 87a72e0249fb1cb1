"""Helpers of the compose tests: a scratch project on the local images, `make serve` in compose
mode, and removing whatever a test left."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tfserving_stack import compose
from tfserving_stack.project import Project

from ..helpers import PublishedModel, copy_project, make, read_env


def compose_project(root: Path, published_model: PublishedModel, local_images: dict[str, str],
                    **settings: str) -> Path:
    """A scratch copy of the project on the local images, its own compose project name and free
    ports, and a real copy of the published model (scenarios publish into it)."""
    name = f"{root.parent.name}-{os.getpid()}".lower().replace("_", "-")
    project = copy_project(root, None, **{
        "COMPOSE_PROJECT_NAME": name, "COMPOSE_PROFILES": "cpu,grafana", "MODEL_NAME": published_model.name,
        # The Locust master's exporter listens inside its container, where 9646 is free.
        "MODEL_CONFIG_POLL_SECONDS": "2", "LOADTEST_METRICS_PORT": "9646", **local_images, **settings})
    shutil.copytree(published_model.base_path / str(published_model.version),
                    project / "models" / published_model.name / str(published_model.version))
    return project


def scratch(root: Path) -> Project:
    """The scratch project as its .env describes it: not overridden by the environment, which
    holds the settings of the project running the tests (`make test` exports them)."""
    return Project(root=root, env=read_env(root))


def serve(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return make(root, "serve", "SERVE_MODE=compose", timeout=600, env=env)


def tear_down(root: Path) -> None:
    """Whatever a test left: the project's containers, networks and volumes."""
    make(root, "stop", "CLEAN=1", timeout=300)
    project = scratch(root)
    if any(compose.leftovers(project).values()):
        compose.down(project, volumes=True)
