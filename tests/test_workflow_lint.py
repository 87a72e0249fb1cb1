"""The generated project's GitHub Actions workflow passes actionlint (shell checks too where
shellcheck is installed). The project's own tests/test_workflow.py checks what its steps run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from .helpers import REPO

WORKFLOW = Path(".github") / "workflows" / "ci.yml"


def actionlint(workflow: Path) -> subprocess.CompletedProcess[str]:
    # The venv's `actionlint` (requirements.txt), else one on the PATH.
    binary = Path(sys.executable).with_name("actionlint")
    command = str(binary) if binary.exists() else shutil.which("actionlint")
    assert command, "actionlint is not installed: `make venv` installs it (requirements.txt)"
    return subprocess.run([command, "-no-color", workflow.name], cwd=workflow.parent, capture_output=True, text=True,
                          timeout=120)


def test_workflow_passes_actionlint(rendered: tuple[str, Path]) -> None:
    _, project = rendered
    workflow = project / WORKFLOW
    # Copied without rendering (cookiecutter.json): a template variable there would stay as written.
    assert "cookiecutter" not in workflow.read_text()
    result = actionlint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_on_a_broken_workflow(tmp_path: Path) -> None:
    """The check above can fail: a job that needs a job the workflow lacks is reported."""
    broken = tmp_path / "ci.yml"
    text = (REPO / "{{cookiecutter.project_slug}}" / WORKFLOW).read_text()  # copied verbatim into every rendering
    assert "needs: model\n" in text
    broken.write_text(text.replace("needs: model\n", "needs: modle\n"))
    result = actionlint(broken)
    assert result.returncode == 1, result.stdout + result.stderr
    assert '"modle" which does not exist' in result.stdout, result.stdout
