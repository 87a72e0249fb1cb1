"""Which way to run the stack (compose when a Docker engine answers, else embedded), and the checks
that the engine and its compose plugin are there."""

from __future__ import annotations

import subprocess
from contextlib import closing
from typing import Any

from .errors import StackError

MODES = ("compose", "embedded")


def docker_client(timeout: float = 30) -> closing[Any]:
    """The docker SDK's client of the engine DOCKER_HOST names, closed when the `with` block ends."""
    import docker  # imported here: only the compose path needs it

    return closing(docker.from_env(timeout=timeout))


def docker_engine_error() -> str | None:
    """None when a Docker engine answers a ping, else why not (asked through the docker SDK)."""
    import docker

    try:
        with docker_client(timeout=5) as client:
            client.ping()
    except docker.errors.DockerException as error:
        return str(error)
    return None


def require_compose_plugin() -> None:
    try:
        found = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True).returncode == 0
    except FileNotFoundError:
        found = False
    if not found:
        raise StackError(
            "a Docker engine answers but `docker compose` is not installed: install the Docker "
            "Compose plugin (package docker-compose-plugin), or use SERVE_MODE=embedded"
        )


def choose_mode(requested: str | None) -> str:
    if requested and requested not in MODES:
        raise StackError(f"SERVE_MODE={requested!r} is not one of {', '.join(MODES)}")
    if requested == "embedded":
        return "embedded"
    error = docker_engine_error()
    if requested == "compose" and error:
        raise StackError(
            f"SERVE_MODE=compose but no Docker engine answers ({error}): start Docker, "
            "or use SERVE_MODE=embedded to serve without it"
        )
    return "embedded" if error else "compose"
