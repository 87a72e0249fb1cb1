"""Background processes that outlive the command that started them (`serve`), recorded in pid
files, so that `stop` (another command, later) signals exactly what `serve` started.

A pid file holds the pid, the command as launched and its log. A process is ours when the pid's
command line matches: it names this project's absolute paths (config files, models), so a pid
reused by another process after a reboot or crash does not match and is never signalled. The
start time is kept for people reading the file but not compared: psutil derives it from the
wall-clock boot time, which moves when the clock is stepped or a VM is paused and resumed, and a
mismatch there would leave our own server running after `stop`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil
from embedded_tfserving.process import ChildProcess, stop_process


@dataclass(frozen=True)
class Recorded:
    name: str
    pid: int
    cmdline: list[str]
    create_time: float
    log: str

    def process(self) -> psutil.Process | None:
        """The live process if it is still the one we started, else None."""
        try:
            proc = psutil.Process(self.pid)
            if proc.cmdline() == self.cmdline and proc.status() != psutil.STATUS_ZOMBIE:
                return proc
        except psutil.Error:
            pass
        return None


def record(name: str, child: ChildProcess, run_dir: Path) -> Recorded:
    """Write the pid file of a started (detached) child."""
    assert child.pid is not None, "record a child after starting it"
    # The command as launched, not as /proc shows it: Popen returns once exec has begun, a moment
    # before the kernel publishes the new argv, so reading it back here can give an empty list.
    entry = Recorded(name, child.pid, child.command, psutil.Process(child.pid).create_time(), str(child.log_path))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / f"{name}.pid.json").write_text(json.dumps(asdict(entry), indent=2))
    return entry


def recorded(run_dir: Path) -> list[Recorded]:
    records = []
    for path in sorted(run_dir.glob("*.pid.json")):
        try:
            records.append(Recorded(**json.loads(path.read_text())))
        except (ValueError, TypeError):
            path.unlink()  # unreadable: nothing we can safely signal
    return records


def stop(entry: Recorded, run_dir: Path, timeout: float = 20) -> bool:
    """Stop the recorded process if it is still ours (SIGTERM, then SIGKILL); forget its pid file."""
    proc = entry.process()
    if proc is None:
        print(f"forgot {entry.name}.pid.json: {why_not_ours(entry)}", file=sys.stderr)
    else:
        stop_process(proc, timeout)
    (run_dir / f"{entry.name}.pid.json").unlink(missing_ok=True)
    return proc is not None


def why_not_ours(entry: Recorded) -> str:
    try:
        proc = psutil.Process(entry.pid)
        return (f"pid {entry.pid} runs {proc.cmdline()!r} ({proc.status()}), "
                f"not the recorded {entry.cmdline!r}")
    except psutil.Error as error:
        return f"pid {entry.pid} is gone ({error.__class__.__name__})"
