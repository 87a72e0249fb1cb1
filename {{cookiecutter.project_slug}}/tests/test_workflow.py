"""The CI workflow (.github/workflows/ci.yml) runs only make targets, each of which exists and is
run by a test of this project: what CI does is what `make` does here, and is tested here."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

WORKFLOW = PROJECT_ROOT / ".github" / "workflows" / "ci.yml"
PACKAGE = PROJECT_ROOT / "{{ cookiecutter.package_name }}"
TARGET = re.compile(r"[a-z][a-z0-9-]*")
VARIABLE = re.compile(r"([A-Z][A-Z0-9_]*)=.*", re.S)
# A test running a target: make(root, "serve", ...), helpers.make(PROJECT_ROOT, "images", ...).
MAKE_CALL = re.compile(r"\bmake\(\s*[^,()]+,\s*\"([a-z][a-z0-9-]*)\"")
# Workflow targets that no test of this project runs, and why.
NOT_RUN_BY_TESTS = {
    "lint": "the lint gate itself (the template's tests run it on every rendering)",
    "test": "this test suite itself",
    "image-tools": "installs system packages with apt-get and sudo, and changes kernel settings on CI",
}


def workflow() -> dict[str, Any]:
    return yaml.safe_load(WORKFLOW.read_text())


def run_steps() -> list[tuple[str, str]]:
    """(job, command) of every `run:` step."""
    return [(name, step["run"]) for name, job in workflow()["jobs"].items()
            for step in job["steps"] if "run" in step]


def make_words(command: str) -> tuple[list[str], list[str]]:
    """(targets, VAR=value words) of a single `make` invocation; AssertionError for anything else."""
    assert "\n" not in command.strip(), f"one command per step: {command!r}"
    words = shlex.split(command)
    assert words[:1] == ["make"], f"not a make target: {command!r}"
    targets = [word for word in words[1:] if TARGET.fullmatch(word)]
    variables = [word for word in words[1:] if VARIABLE.fullmatch(word)]
    assert targets, f"no target: {command!r}"
    assert len(targets) + len(variables) == len(words) - 1, f"only targets and VAR=value words: {command!r}"
    return targets, variables


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*)\s*:(?!=)", (PROJECT_ROOT / "Makefile").read_text(), re.M))


def workflow_targets() -> set[str]:
    return {target for _, command in run_steps() for target in make_words(command)[0]}


def targets_run_by_tests() -> set[str]:
    this = Path(__file__).resolve()
    return {target for path in (PROJECT_ROOT / "tests").rglob("*.py") if path.resolve() != this
            for target in MAKE_CALL.findall(path.read_text())}


def test_every_run_step_is_one_make_invocation() -> None:
    steps = run_steps()
    assert steps, "the workflow runs make targets"
    for _, command in steps:
        make_words(command)  # asserts, naming the command


def test_every_workflow_target_is_in_the_makefile() -> None:
    missing = workflow_targets() - makefile_targets()
    assert not missing, f"targets the workflow runs but the Makefile lacks: {sorted(missing)}"


def test_every_workflow_variable_is_read_by_make_or_the_packages() -> None:
    import tfserving_stack  # the stack's commands (serve, stop) read their settings there

    code = [*PACKAGE.rglob("*.py"), *Path(tfserving_stack.__file__).parent.rglob("*.py")]
    sources = (PROJECT_ROOT / "Makefile").read_text() + "".join(p.read_text() for p in code)
    for _, command in run_steps():
        for word in make_words(command)[1]:
            name = word.split("=", 1)[0]
            assert re.search(rf"\b{name}\b", sources), f"{name} (in {command!r}) is read by neither the Makefile nor the package"


def test_every_workflow_target_is_run_by_a_test() -> None:
    untested = workflow_targets() - targets_run_by_tests() - NOT_RUN_BY_TESTS.keys()
    assert not untested, (
        f"the workflow runs make targets that no test runs: {sorted(untested)}; add a test that calls "
        + ", ".join(f'helpers.make(root, "{target}", ...)' for target in sorted(untested))
        + " (see tests/stack/test_make_serve.py), or, if no test can run it, add it to NOT_RUN_BY_TESTS with the reason")


def test_the_allow_list_holds_only_workflow_targets() -> None:
    assert NOT_RUN_BY_TESTS.keys() <= workflow_targets(), "NOT_RUN_BY_TESTS names targets the workflow no longer runs"


def test_jobs_download_only_what_a_job_they_need_uploads() -> None:
    jobs = workflow()["jobs"]

    def artifacts(job: dict[str, Any], action: str) -> set[str]:
        return {step["with"]["name"] for step in job["steps"] if step.get("uses", "").startswith(action)}

    for name, job in jobs.items():
        needs = job.get("needs", [])
        uploaded = set().union(*(artifacts(jobs[need], "actions/upload-artifact@") for need in
                                 ([needs] if isinstance(needs, str) else needs)))
        missing = artifacts(job, "actions/download-artifact@") - uploaded
        assert not missing, f"job {name} downloads {sorted(missing)}, which no job it needs uploads"
