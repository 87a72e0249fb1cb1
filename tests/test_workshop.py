"""Run the workshop (docs/workshop/*.md) end to end: every bash block, in order, in one project.

Lab 1 generates the default project into a temporary folder; the other labs run in it with this
repository's venv (VENV, exported, so the labs' plain `make train` uses it). `make stop` runs at
the end whatever happened. The rules for lab authors are in tests/labs.py and docs/README.md.

Environment knobs, for working on the labs:
- WORKSHOP_UNTIL=05: stop after lab 05 (a prefix of the file names);
- WORKSHOP_KEEP=/some/dir: work there and keep the project afterwards;
- WORKSHOP_KEEP_GOING=1: run every step even after one failed, and report all failures.

A whole run also writes the figures the labs show to build/workshop-figures (WORKSHOP_FIGURES), for
the site (`make docs`, tests/test_workshop_site.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from site_hooks import figures_dir

from .figures import collect
from .helpers import busy_default_ports
from .labs import Outcome, Session, parse_labs

REPO = Path(__file__).resolve().parents[1]
LABS = REPO / "docs" / "workshop"
VENV = Path(sys.executable).parent.parent
PROJECT = "ctr-serving"  # the default answers' slug
STEP_TIMEOUT = 600
# Variables of the caller that would change what the labs do.
SCRUBBED = ("VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MODEL_NAME", "MODELS_DIR", "REST_PORT",
            "GRPC_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT", "LOADTEST_METRICS_PORT", "GRAFANA_URL")


def lab_environment(shims: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED}
    # `make` in the labs must not reinstall requirements into the shared venv (`setup` would, since
    # the freshly generated requirements.txt is newer than the venv's stamp): -o marks it current.
    shims.mkdir(parents=True, exist_ok=True)
    real_make = shutil.which("make")
    (shims / "make").write_text(f'#!/bin/sh\nexec {real_make} -o "$VENV/.installed" "$@"\n')
    (shims / "make").chmod(0o755)
    env.update(
        VENV=str(VENV),
        TEMPLATE=str(REPO),
        SERVE_MODE="embedded",  # the labs teach embedded mode; the docker-only blocks say SERVE_MODE=compose
        # cookiecutter comes from the venv; its python only once lab 1 activates it.
        PATH=f"{shims}{os.pathsep}{env.get('PATH', '')}{os.pathsep}{VENV / 'bin'}",
        PYTHONUNBUFFERED="1",
        NO_COLOR="1",
    )
    return env


def docker_answers() -> bool:
    """Whether a Docker engine and the Compose plugin answer (the docker-only blocks need both)."""
    try:
        return all(subprocess.run(command, capture_output=True, timeout=60).returncode == 0
                   for command in (["docker", "info"], ["docker", "compose", "version"]))
    except (OSError, subprocess.TimeoutExpired):
        return False


def stop_servers(project: Path, env: dict[str, str]) -> str:
    if not (project / "Makefile").is_file():
        return ""
    stopped = subprocess.run(["make", "stop"], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    return stopped.stdout + stopped.stderr


def kill_leftovers(project: Path) -> list[str]:
    """Terminate what the labs started and `make stop` left running (processes whose command line
    names this project's folder, found through the pid files of run/embedded/)."""
    import psutil

    killed = []
    for pid_file in sorted((project / "run").glob("**/*.pid.json")):
        try:
            process = psutil.Process(json.loads(pid_file.read_text())["pid"])
            if str(project) in " ".join(process.cmdline()):
                process.terminate()
                process.wait(10)
                killed.append(f"{pid_file.name}: pid {process.pid} ({process.name()})")
        except (psutil.Error, ValueError, KeyError):
            continue
    return killed


def report(outcome: Outcome) -> str:
    tail = outcome.output[-6000:]
    lines = [f"{outcome.step.where}: exit status {outcome.returncode} after {outcome.seconds:.0f} s",
             "command:", outcome.step.command.rstrip()]
    if outcome.returncode == 0 and outcome.missing:
        lines += ["expected lines not in the output:", *(f"  {line}" for line in outcome.missing)]
    return "\n".join([*lines, "output (tail):", tail])


def test_workshop_labs_run_as_written(tmp_path: Path) -> None:
    for tool in ("make", "curl"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed; the labs need it")
    docker = docker_answers()
    if not docker and os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail("the labs' docker-only blocks need a Docker engine with Compose, and REQUIRE_DOCKER=1")
    busy = busy_default_ports()
    if busy:
        pytest.skip(f"the labs use the default ports and these are busy: {', '.join(busy)}")
    until = os.environ.get("WORKSHOP_UNTIL", "")
    steps = [step for step in parse_labs(LABS) if not until or step.lab[: len(until)] <= until]
    assert steps, f"no lab steps found in {LABS}"

    workdir = Path(os.environ["WORKSHOP_KEEP"]) if os.environ.get("WORKSHOP_KEEP") else tmp_path / "workshop"
    workdir.mkdir(parents=True, exist_ok=True)
    env = lab_environment(tmp_path / "shims")
    session = Session(workdir, tmp_path / "shell-state", env)
    log: list[str] = []
    failures: list[str] = []
    keep_going = os.environ.get("WORKSHOP_KEEP_GOING") == "1"
    try:
        for step in steps:
            if step.skipped or (step.docker and not docker):
                log.append(f"skip {step.where}" + (" (no Docker engine with Compose here)" if step.docker else ""))
                continue
            outcome = session.run(step, STEP_TIMEOUT)
            log.append(f"{'ok  ' if outcome.ok else 'FAIL'} {step.where} ({outcome.seconds:.1f} s)")
            if not outcome.ok:
                failures.append(report(outcome))
                if not keep_going:
                    break
    finally:
        print("\n".join(log))
        print(stop_servers(workdir / PROJECT, env))
        leftover = busy_default_ports()
        killed = kill_leftovers(workdir / PROJECT)
    if failures:
        pytest.fail("\n\n".join(failures) + "\n\nsteps:\n" + "\n".join(log), pytrace=False)
    if not until:  # the whole workshop ran: its figures are the site's (make docs)
        figures = collect(workdir / PROJECT, steps, figures_dir())
        print(f"figures for the site, in {figures_dir()}:")
        print("\n".join(f"  {f['path']}: {f['lab']} `{f['command']}`" for f in figures))
    assert not leftover and not killed, (
        f"still running after `make stop`: ports {', '.join(leftover) or 'none'}; "
        f"the test terminated {', '.join(killed) or 'nothing'}")
