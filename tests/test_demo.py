"""The README's main command, `make demo` at the repo root, run as a user runs it, then run again.

Shorter load levels than the defaults keep it to a few minutes; everything else is the real path:
render into a fresh build folder, train, export, verify, serve, load-test, stop, summary.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .helpers import REPO, busy_default_ports, run_make

# Shorter load levels; SERVE_MODE=embedded because compose needs a Docker engine (the generated
# Makefile exports its variables, so the CLI sees it).
SHORT = {"DEMO_LEVELS": "1,16", "DEMO_LEVEL_SECONDS": "2", "DEMO_SWAP_INTERVAL": "2", "SERVE_MODE": "embedded",
         "DEMO_PROBE_SECONDS": "2", "DEMO_MAX_PROBES": "4", "DEMO_PRECISION": "0.5"}


def make_demo(build: Path) -> subprocess.CompletedProcess[str]:
    return run_make(REPO, "demo", extra={"BUILD": str(build), **SHORT}, timeout=1200)


def test_make_demo_runs_the_whole_loop_and_redoes_nothing_up_to_date(tmp_path: Path) -> None:
    busy = busy_default_ports()
    if busy:
        pytest.skip(f"the demo uses the default ports and these are busy: {', '.join(busy)}")
    build = tmp_path / "build"
    first = make_demo(build)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-8000:]
    project = build / "ctr-serving"
    assert (project / "models" / "ctr" / "1" / "saved_model.pb").is_file()
    for stage in ("ctr_serving train", "ctr_serving export", "ctr_serving verify", "ctr_serving serve",
                  "ctr_serving stop", "loadtest batching", "loadtest swap"):
        assert stage in first.stdout, f"`make demo` did not run {stage}"
    assert re.search(r"model: AUC 0\.[6-9]\d*", first.stdout), first.stdout[-3000:]
    assert re.search(r"16 users: throughput x[\d.]+ with batching on", first.stdout)
    assert "PASSED; " in first.stdout and ", 0 failed," in first.stdout
    assert not busy_default_ports(), "`make demo` left a server running:\n" + output[-4000:]

    again = make_demo(build)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    for stage in ("cookiecutter", "ctr_serving train", "ctr_serving export", "ctr_serving serve", "loadtest"):
        assert stage not in again.stdout, f"the second `make demo` redid {stage}"
    summary = first.stdout[first.stdout.rindex("model: AUC"):].splitlines()[:6]
    assert summary == again.stdout[again.stdout.rindex("model: AUC"):].splitlines()[:6]
    assert sorted(os.listdir(project / "models" / "ctr")) == ["1"]
