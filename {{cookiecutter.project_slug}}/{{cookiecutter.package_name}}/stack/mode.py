"""Which way to run the stack: compose when a Docker engine answers, else embedded."""

from __future__ import annotations

from ..errors import StackError

MODES = ("compose", "embedded")


def docker_engine_error() -> str | None:
    """None when a Docker engine answers a ping, else why not (asked through the docker SDK)."""
    import docker  # imported here: only the compose path needs it

    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except docker.errors.DockerException as error:
        return str(error)
    return None


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
