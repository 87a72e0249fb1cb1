"""Every answer set renders into a clean project that reads as if hand-written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from .helpers import VARIANTS, run_make

# Copied without rendering on purpose: Grafana's JSON, the Prometheus rules and the GitHub Actions
# workflows carry their own {{ }} syntax.
VERBATIM = re.compile(r"^(dashboards/[^/]+\.json|compose/rules/[^/]+\.yml|\.github/workflows/[^/]+\.yml)$")
# What the project's own commands and tests make (its .gitignore): not rendered, not checked.
OUTPUTS = {".venv", "artifacts", "models", "reports", "run", "build", "__pycache__", ".pytest_cache",
           ".hypothesis", ".mypy_cache", ".ruff_cache"}
JINJA = re.compile(r"\{\{|\{%|\{#|cookiecutter\.")


def project_files(project: Path) -> list[Path]:
    return [p for p in project.rglob("*") if p.is_file() and not OUTPUTS & set(p.relative_to(project).parts)]


def test_no_template_syntax_left(rendered: tuple[str, Path]) -> None:
    _, project = rendered
    leftovers = []
    for path in project_files(project):
        relative = path.relative_to(project).as_posix()
        if VERBATIM.match(relative) or path.suffix in {".png", ".pb", ".whl"}:  # binaries: built, not rendered
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        leftovers += [f"{relative}: {m.group(0)}" for m in JINJA.finditer(text)]
    assert not leftovers, leftovers


def test_layout_and_answers(rendered: tuple[str, Path]) -> None:
    name, project = rendered
    answers = VARIANTS[name]
    package = answers.get("package_name", project.name.replace("-", "_"))
    for top in ("README.md", "Makefile", "pyproject.toml", "requirements.txt", ".env", package, "wheels",
                "compose", "loadtests", "dashboards", "tests"):
        assert (project / top).exists(), top
    assert not (project / "embedded_tfserving").exists(), "the embedded server comes as a wheel, not as source"
    lines = (project / ".env").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    assert env["MODEL_NAME"] == answers.get("model_name", "ctr")
    assert env["REST_PORT"] == answers.get("rest_port", "8501")
    assert env["GRPC_PORT"] == answers.get("grpc_port", "8500")
    assert env["TFSERVING_IMAGE"].endswith("-gpu") == (answers.get("use_gpu") == "yes")


def test_dashboards_are_valid_json(rendered: tuple[str, Path]) -> None:
    _, project = rendered
    boards = sorted((project / "dashboards").glob("*.json"))
    assert boards, "the project ships Grafana dashboards"
    for board in boards:
        assert json.loads(board.read_text())["panels"], board.name


def test_cli_help_lists_every_stage(rendered: tuple[str, Path]) -> None:
    name, project = rendered
    package = VARIANTS[name].get("package_name", project.name.replace("-", "_"))
    result = subprocess.run([sys.executable, "-m", package, "--help"], cwd=project, text=True, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("train", "export", "publish", "verify", "serve", "stop", "status", "loadtest", "bench", "soak",
                    "certs", "dashboards", "summary"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.M), command


def test_lint_passes(rendered: tuple[str, Path]) -> None:
    """Every rendering passes the project's own lint gate (ruff and mypy, configured in its pyproject)."""
    _, project = rendered
    result = run_make(project, "lint", timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
