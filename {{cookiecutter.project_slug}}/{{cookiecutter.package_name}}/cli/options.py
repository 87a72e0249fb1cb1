"""Options several commands take, defined once so they read the same setting the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .. import settings


def model_name_option(description: str) -> Callable[[Any], Any]:
    """--model-name: MODEL_NAME from the environment, else from .env."""
    return click.option("--model-name", envvar="MODEL_NAME", default=settings.model_name, show_default="MODEL_NAME",
                        help=description)
