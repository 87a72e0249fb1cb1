"""Background processes recorded in pid files, so `stop` signals only what `serve` started.

A pid file holds the pid, its command line and its start time. A process is ours when the pid's
command line matches: it names this project's absolute paths (config files, models), so a pid
reused by another process after a reboot or crash does not match and is never signalled. The
start time is kept for people reading the file but not compared: psutil derives it from the
wall-clock boot time, which moves when the clock is stepped or a VM is paused and resumed, and a
mismatch there would leave our own server running after `stop`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import psutil

from .errors import StackError


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


def spawn(name: str, cmd: list[str], *, cwd: Path, run_dir: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Recorded]:
    """Start `cmd` in its own session (it outlives this command), logging to run_dir/<name>.log."""
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    # The command as launched, not as /proc shows it: Popen returns once exec has begun, a moment
    # before the kernel publishes the new argv, so reading it back here can give an empty list.
    record = Recorded(name, popen.pid, [str(part) for part in cmd], psutil.Process(popen.pid).create_time(), str(log_path))
    (run_dir / f"{name}.pid.json").write_text(json.dumps(asdict(record), indent=2))
    return popen, record


def recorded(run_dir: Path) -> list[Recorded]:
    records = []
    for path in sorted(run_dir.glob("*.pid.json")):
        try:
            records.append(Recorded(**json.loads(path.read_text())))
        except (ValueError, TypeError):
            path.unlink()  # unreadable: nothing we can safely signal
    return records


def stop(record: Recorded, run_dir: Path, timeout: float = 20) -> bool:
    """SIGTERM (then SIGKILL) the recorded process if it is still ours; forget its pid file."""
    proc = record.process()
    if proc is None:
        print(f"forgot {record.name}.pid.json: {why_not_ours(record)}", file=sys.stderr)
    else:
        proc.terminate()
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    (run_dir / f"{record.name}.pid.json").unlink(missing_ok=True)
    return proc is not None


def why_not_ours(record: Recorded) -> str:
    try:
        proc = psutil.Process(record.pid)
        return (f"pid {record.pid} runs {proc.cmdline()!r} ({proc.status()}), "
                f"not the recorded {record.cmdline!r}")
    except psutil.Error as error:
        return f"pid {record.pid} is gone ({error.__class__.__name__})"


def log_tail(path: str | Path, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_until(ready: Callable[[], bool], popen: subprocess.Popen, timeout: float, what: str, log: str) -> None:
    """Poll `ready()` until true; fail early with the log tail if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise StackError(
                f"{what} exited with code {popen.returncode} while starting; last lines of {log}:\n"
                + log_tail(log)
            )
        if ready():
            return
        time.sleep(0.5)
    raise StackError(
        f"{what} was not ready after {timeout:.0f}s (raise --timeout if the model is large); "
        f"last lines of {log}:\n" + log_tail(log)
    )
