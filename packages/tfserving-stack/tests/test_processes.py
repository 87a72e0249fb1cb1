"""The background processes `serve` records and `stop` stops: a pid file names a process by its
command line as launched, so `stop` never signals a process it did not start (a pid reused) and
still finds its own after the wall clock moved; and the port check before starting binds as
servers do, so connections lingering in TIME_WAIT do not count as a listener."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from embedded_tfserving.process import ChildProcess

from tfserving_stack import processes
from tfserving_stack.ports import is_free

from .conftest import stack


def test_stop_never_signals_a_process_it_did_not_start(make_project) -> None:
    root = make_project(with_model=False)
    run_dir = root / "run" / "embedded"
    run_dir.mkdir(parents=True)
    # A pid file naming a live process (this test) with another command line, as after pid reuse.
    me = processes.psutil.Process()
    record = {"name": "server", "pid": me.pid, "cmdline": ["python", "-m", "someone.else"],
              "create_time": me.create_time(), "log": str(run_dir / "server.log")}
    (run_dir / "server.pid.json").write_text(json.dumps(record))
    result = stack(root, "stop", DOCKER_HOST="unix:///nonexistent.sock")
    assert result.returncode == 0, result.stderr
    assert "nothing was running" in result.stdout
    assert not (run_dir / "server.pid.json").exists()


def test_stop_finds_its_process_after_the_clock_moved(make_project) -> None:
    """The recorded start time goes stale when the wall clock is stepped (VM resume, NTP): the
    command line alone identifies the process, so `stop` still terminates it."""
    root = make_project(with_model=False)
    run_dir = root / "run" / "embedded"
    run_dir.mkdir(parents=True)
    # Started through a shell that exits at once, so the process is not this test's child (as a
    # server started by `serve` is not `stop`'s) and nobody here has to reap it.
    cmd = [sys.executable, "-c", "import time; time.sleep(120)", str(run_dir)]
    started = subprocess.run(
        ["sh", "-c", f'"{cmd[0]}" -c "{cmd[2]}" "{cmd[3]}" >/dev/null 2>&1 & echo $!'],
        capture_output=True, text=True, check=True,
    )
    proc = processes.psutil.Process(int(started.stdout))
    try:
        deadline = time.monotonic() + 10
        while proc.cmdline() != cmd and time.monotonic() < deadline:  # until the shell's fork has exec'd
            time.sleep(0.05)
        record = {"name": "server", "pid": proc.pid, "cmdline": cmd,
                  "create_time": proc.create_time() - 3600, "log": str(run_dir / "server.log")}
        (run_dir / "server.pid.json").write_text(json.dumps(record))
        result = stack(root, "stop", DOCKER_HOST="unix:///nonexistent.sock")
        assert result.returncode == 0, result.stderr
        assert f"stopped server (pid {proc.pid})" in result.stdout
        assert not proc.is_running()
    finally:
        if proc.is_running():
            proc.kill()


def test_record_holds_the_command_as_launched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Just after exec the kernel may not show the new argv yet (/proc/PID/cmdline reads empty): the
    pid file must hold the command that was launched, or `stop` would not recognise the process."""
    cmd = [sys.executable, "-c", "import time; time.sleep(60)", str(tmp_path)]
    child = ChildProcess(cmd, tmp_path / "sleeper.log", cwd=tmp_path, detach=True)
    with monkeypatch.context() as patched:
        patched.setattr(processes.psutil.Process, "cmdline", lambda self: [])
        record = processes.record("sleeper", child.spawn(), tmp_path)
    try:
        assert record.cmdline == cmd
        assert json.loads((tmp_path / "sleeper.pid.json").read_text())["cmdline"] == cmd
        assert record.process() is not None
    finally:
        child.stop(timeout=5)


def test_a_port_whose_connections_linger_in_time_wait_is_free(tmp_path: Path) -> None:
    """A stopped server leaves its closed connections in TIME_WAIT on its port. The check must bind
    as servers do (SO_REUSEADDR), or `make stop` then `make serve` fails on a port nothing listens on."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Prometheus, aiohttp and gRPC listen
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = listener.accept()
    accepted.close()  # the server side closes first: its end of the connection enters TIME_WAIT
    client.recv(1)
    client.close()
    assert not is_free(port)  # still listening
    listener.close()
    with socket.socket() as plain, pytest.raises(OSError):  # the old check: a bind without SO_REUSEADDR fails
        plain.bind(("127.0.0.1", port))
    assert is_free(port)
