"""Run each rendered project's own test suite with the shared venv.

The default rendering runs everything (end-to-end tests included); the other answer sets run the
fast tests, which exercise every file that their answers change (names, ports, GPU image).
"""

from __future__ import annotations

from pathlib import Path

from .helpers import run_make


def test_generated_suite_passes(rendered: tuple[str, Path]) -> None:
    name, project = rendered
    selection = "" if name == "default" else "-m 'not slow'"
    result = run_make(project, "test", extra={"PYTEST_ARGS": f"-q -p no:cacheprovider {selection}".strip()})
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
