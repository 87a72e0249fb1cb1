"""Options several commands take, defined once so they read the same setting the same way."""

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
