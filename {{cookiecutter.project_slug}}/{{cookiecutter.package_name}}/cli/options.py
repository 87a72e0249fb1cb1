"""Options several commands take, defined once so they read the same setting the same way (the
settings module's one rule: the environment, else .env, else the generation's answers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import settings


def models_dir_option(description: str) -> Callable[[Any], Any]:
    """--models-dir: MODELS_DIR from the environment, else from .env, else models/ (what `make serve` serves)."""
    return click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=settings.models_dir,
                        show_default="MODELS_DIR, else models", help=description)


def model_name_option(description: str) -> Callable[[Any], Any]:
    """--model-name: MODEL_NAME from the environment, else from .env."""
    return click.option("--model-name", envvar="MODEL_NAME", default=settings.model_name, show_default="MODEL_NAME",
                        help=description)


def server_options(what: str) -> Callable[[Any], Any]:
    """--host and --grpc-target: where `what` (the running server, the balancer) listens."""
    def decorate(command: Any) -> Any:
        command = click.option("--grpc-target", default=lambda: f"127.0.0.1:{settings.grpc_port()}",
                               show_default="GRPC_PORT", help=f"host:port of {what}'s gRPC API")(command)
        return click.option("--host", default=lambda: f"http://127.0.0.1:{settings.rest_port()}",
                            show_default="REST_PORT", help=f"REST base URL of {what}")(command)
    return decorate


def prometheus_option(description: str) -> Callable[[Any], Any]:
    """--prometheus: the project's Prometheus (embedded or compose, both on PROMETHEUS_PORT)."""
    return click.option("--prometheus", default=settings.prometheus_url, show_default="http://127.0.0.1:$PROMETHEUS_PORT",
                        help=description)


def reports_dir_option(description: str) -> Callable[[Any], Any]:
    """--reports-dir: where runs write, and are read back from (reports/)."""
    return click.option("--reports-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
                        show_default=True, help=description)
