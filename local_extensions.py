"""Jinja filters of this template (cookiecutter imports this file from the template's folder)."""

from __future__ import annotations

from pathlib import Path

from cookiecutter.utils import simple_filter


@simple_filter
def absolute(path: str) -> str:
    """`path` made absolute in cookiecutter's own process, which runs where the user ran it (its
    hooks run in the new project's folder, where a relative template path means nothing)."""
    return str(Path(path).resolve())
