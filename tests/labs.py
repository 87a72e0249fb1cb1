"""Read the workshop labs (docs/workshop/*.md) and run their commands as an attendee would.

The rules a lab follows (docs/README.md repeats them for authors):

- Every ```bash block is a step, run in lab order, each with `bash -euo pipefail`.
- A ```bash block is skipped when its info string says `skip-test` or `needs-grafana` (no Grafana
  runs here), or when the line before it is `<!-- skip-test -->`. A block whose info string says
  `docker-only` (```bash title="docker-only") runs where a Docker engine with Compose answers, and
  is skipped elsewhere (with REQUIRE_DOCKER=1 a missing engine is a failure instead).
- A ```text block is the expected output of the nearest ```bash block above it in the same file.
  Each of its lines must appear in the step's output (stdout and stderr together), anywhere, in
  any order; `...` inside a line matches anything, a line that is only `...` matches nothing, and
  runs of spaces count as one. `<!-- unchecked -->` on the line before a text block exempts it.
- The steps share one shell state, as if typed into one terminal: the working directory and the
  exported variables at the end of a step are where the next step starts (so lab 1 can
  `cd ctr-serving` and activate a virtual environment). Shell functions and aliases do not carry.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<info>.*)$")
SKIP_INFO = ("skip-test", "needs-grafana")
DOCKER_INFO = "docker-only"
SKIP_COMMENT = "<!-- skip-test -->"
UNCHECKED_COMMENT = "<!-- unchecked -->"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Step:
    lab: str  # file name, e.g. 04-serve.md
    line: int  # line of the opening fence
    command: str
    skipped: bool = False
    docker: bool = False  # runs only where a Docker engine answers
    expected: list[str] = field(default_factory=list)  # lines that must appear in the output

    @property
    def where(self) -> str:
        return f"{self.lab}:{self.line}"


def parse_lab(path: Path) -> list[Step]:
    """The bash steps of one lab, each with the expected-output lines that follow it."""
    lines = path.read_text().splitlines()
    steps: list[Step] = []
    previous = ""  # last non-blank line outside a block
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        indent, info = len(opening["indent"]), opening["info"].strip()
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            body.append(lines[end][indent:] if not lines[end][:indent].strip() else lines[end].lstrip())
            end += 1
        language = info.split()[0] if info else ""
        if language == "bash":
            skipped = previous == SKIP_COMMENT or any(word in info for word in SKIP_INFO)
            steps.append(Step(path.name, index + 1, "\n".join(body) + "\n", skipped, DOCKER_INFO in info))
        elif language == "text" and steps and previous != UNCHECKED_COMMENT:
            steps[-1].expected.extend(line for line in body if not _is_wildcard(line))
        previous = ""
        index = end + 1
    return steps


def parse_labs(folder: Path) -> list[Step]:
    return [step for lab in sorted(folder.glob("[0-9][0-9]-*.md")) for step in parse_lab(lab)]


def _is_wildcard(line: str) -> bool:
    return not line.strip() or line.strip() == "..."


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def missing_lines(expected: list[str], output: str) -> list[str]:
    """Expected lines that no output line matches."""
    output_lines = [_normalize(line) for line in ANSI.sub("", output).splitlines()]
    missing = []
    for line in expected:
        pattern = re.compile(".*".join(re.escape(part.strip()) for part in _normalize(line).split("...")))
        if not any(pattern.search(candidate) for candidate in output_lines):
            missing.append(line)
    return missing


@dataclass
class Outcome:
    step: Step
    returncode: int
    output: str
    seconds: float

    @property
    def missing(self) -> list[str]:
        return missing_lines(self.step.expected, self.output)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.missing


class Session:
    """One terminal's worth of state (working directory, exported variables) across steps."""

    def __init__(self, start_dir: Path, state_dir: Path, env: dict[str, str]) -> None:
        self.env = env
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.cwd_file = state_dir / "cwd"
        self.env_file = state_dir / "env"
        self.cwd_file.write_text(str(start_dir))
        self.env_file.write_text("")

    @property
    def cwd(self) -> Path:
        return Path(self.cwd_file.read_text().strip())

    def run(self, step: Step, timeout: float) -> Outcome:
        script = self.state_dir / "step.sh"
        script.write_text(
            f'cd "$(cat {self.cwd_file})"\n'
            f"source {self.env_file}\n"
            # Record where the step ended and what it exported, even when it fails.
            f"trap 'pwd > {self.cwd_file}; export -p | grep -vE \"^declare -x (PWD|OLDPWD|SHLVL|_)=\" > {self.env_file}' EXIT\n"
            + step.command
        )
        started = time.monotonic()
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", str(script)], env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                output, _ = process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                output, _ = process.communicate()
            output += f"\n[timed out after {timeout:.0f} s]"
            return Outcome(step, 124, output, time.monotonic() - started)
        return Outcome(step, process.returncode, output, time.monotonic() - started)
