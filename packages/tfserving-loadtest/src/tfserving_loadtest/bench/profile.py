"""Where a server process spends its CPU under load: py-spy, a sampling profiler that attaches to a
running process, records its Python stacks (`py-spy record --format raw`: one line per distinct
stack, `frame;frame;... count`, readable by speedscope.app and flamegraph.pl), and each sample goes
to one share, decided from its stack:

- TensorFlow: a frame in tensorflow/ (the Session run and what TF's Python does around it);
- metrics: prometheus_client, or the server's metrics.py;
- batching: the innermost server frame is batching.py, or the stack is a thread pool's (the
  hand-off of work to the batch or request threads);
- request code: the innermost server frame is any other module of the server (routes, parsing,
  checks, tensor conversions, replies), with what it calls (numpy, orjson, asyncio);
- transport: the rest, the event loop and the HTTP and gRPC runtimes.

py-spy samples threads that run (it leaves out those the OS reports as waiting); the time a C
function takes (a TF kernel, orjson, gRPC's core) counts for the Python frame that called it.
Attaching needs ptrace rights: root, or a kernel that lets a user trace its own processes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SHARES = ("TensorFlow", "transport", "request code", "batching", "metrics")
SERVER = "embedded_tfserving/"
LOOP_ROOTS = ("embedded_tfserving/__main__.py", "embedded_tfserving/server.py")  # every loop stack starts there
RATE = 100  # samples per second
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")


@dataclass
class Profile:
    samples: int = 0
    shares: Counter[str] = field(default_factory=Counter)  # share -> samples
    leaves: Counter[str] = field(default_factory=Counter)  # innermost frame -> samples
    own: Counter[str] = field(default_factory=Counter)  # innermost frame of the server's own code -> samples
    error: str = ""

    def share(self, name: str) -> float:
        return self.shares[name] / self.samples if self.samples else 0.0

    def summary(self, top: int = 12) -> dict[str, object]:
        def ranked(counter: Counter[str]) -> list[tuple[str, float]]:
            return [(frame, round(n / self.samples, 4)) for frame, n in counter.most_common(top)] if self.samples else []

        return {"samples": self.samples, "shares": {name: round(self.share(name), 4) for name in SHARES},
                "top_frames": ranked(self.leaves), "top_server_frames": ranked(self.own), "error": self.error}


def _file(frame: str) -> str:
    match = FRAME.match(frame)
    return match.group("file") if match else ""


def _own(file: str) -> bool:
    """A file of the server's own code, other than the event loop's roots."""
    return SERVER in file and not file.endswith(LOOP_ROOTS)


def share_of(frames: list[str]) -> str:
    """The share of one sample, its frames from the thread's root to the leaf."""
    files = [_file(frame) for frame in frames]
    if any("tensorflow/" in f for f in files):
        return "TensorFlow"
    if any("prometheus_client/" in f or f.endswith(SERVER + "metrics.py") for f in files):
        return "metrics"
    own = [f for f in files if _own(f)]
    if (own and own[-1].endswith(SERVER + "batching.py")) or any("concurrent/futures/" in f for f in files):
        return "batching"
    return "request code" if own else "transport"


def parse(raw: str) -> Profile:
    """py-spy's raw (collapsed) output as shares and top frames."""
    profile = Profile()
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames, samples = stack.split(";"), int(count)
        profile.samples += samples
        profile.shares[share_of(frames)] += samples
        profile.leaves[frames[-1]] += samples
        own = [f for f in frames if _own(_file(f))]
        profile.own[own[-1] if own else "(none: the event loop and runtimes)"] += samples
    return profile


def record(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | str:
    """Start py-spy on pid for `seconds`, writing raw stacks to output; the reason when it cannot start."""
    beside = Path(sys.executable).with_name("py-spy")  # the venv's, whether or not the venv is on the PATH
    binary = str(beside) if beside.is_file() else shutil.which("py-spy")
    if binary is None:
        return "py-spy is not installed (it is pinned in requirements.txt: make setup)"
    # --nonblocking: read the stacks without pausing the process, so the profile costs it little.
    return subprocess.Popen([binary, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
                             "--rate", str(RATE), "--format", "raw", "--nonblocking", "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(started: subprocess.Popen[bytes] | str, output: Path) -> Profile:
    """Wait for `record`'s py-spy and read what it wrote; a Profile with `error` when it could not."""
    if isinstance(started, str):
        return Profile(error=started)
    _, stderr = started.communicate(timeout=120)
    if started.returncode != 0 or not output.is_file():
        lines = [line for line in stderr.decode(errors="replace").splitlines() if line.strip()]
        return Profile(error=f"py-spy failed: {lines[-1] if lines else f'exit status {started.returncode}'}")
    return parse(output.read_text())


def profile_table(profiles: dict[str, Profile], top: int = 8) -> str:
    """The shares per target, then each target's top frames."""
    names = list(profiles)
    lines = ["server CPU by share (py-spy samples; see loadtest/profile.py for the rules)",
             f"{'share':<14}" + "".join(f"{name:>22}" for name in names)]
    for share in SHARES:
        lines.append(f"{share:<14}" + "".join(f"{profiles[n].share(share):>22.1%}" for n in names))
    lines.append(f"{'samples':<14}" + "".join(f"{profiles[n].samples:>22}" for n in names))
    for name, found in profiles.items():
        if found.error:
            lines.append(f"{name}: no profile: {found.error}")
            continue
        lines.append(f"\ntop frames, {name} (innermost frame; share of samples):")
        lines += [f"  {n / found.samples:6.1%}  {frame}" for frame, n in found.leaves.most_common(top)]
        lines.append(f"top frames of the server's own code, {name}:")
        lines += [f"  {n / found.samples:6.1%}  {frame}" for frame, n in found.own.most_common(top)]
    return "\n".join(lines)
