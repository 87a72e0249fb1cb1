"""Every Makefile target is documented where a user looks: `make help` lists it (its `## ` text) and
the README's command list ("Daily commands") shows it."""

from __future__ import annotations

import re
import subprocess

from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT


def targets() -> set[str]:
    """The Makefile's own targets (not files such as .venv/.installed, not variables)."""
    text = (PROJECT_ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):(?!=)", text, re.M))


def test_make_help_lists_every_target() -> None:
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                           timeout=60, check=True).stdout
    listed = set(re.findall(r"^\s+(?:\x1b\[\d+m)?([a-z][a-z0-9-]*)", shown, re.M))
    assert len(targets()) > 20 and targets() <= listed, sorted(targets() - listed)


def test_the_readme_shows_every_target() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    commands = readme.split("## Daily commands", 1)[1].split("\n## ", 1)[0]
    shown = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", commands))
    assert targets() <= shown, sorted(targets() - shown)
