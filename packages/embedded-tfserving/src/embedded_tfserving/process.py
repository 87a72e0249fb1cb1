"""Child processes: start one, wait until it is ready, keep its log, stop it cleanly.

`ServerProcess` runs this package's server as a child on free ports and returns once its model
is AVAILABLE:

    with ServerProcess(["--model_name=ctr", "--model_base_path=/srv/models/ctr"]) as server:
        server.start()
        requests.post(f"{server.rest_url}/v1/models/ctr:predict", json=...)

`ChildProcess` is the general form, generic on purpose: a project that runs this server starts
its other helpers (Prometheus, Locust, a baseline server) with it too, so every child process is
started, waited for, logged and stopped in one place.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import psutil

from .errors import StartupError
from .flags import parse_flags

# The folder that holds this package: on the child's PYTHONPATH, so `python -m embedded_tfserving`
# works from any working directory without installing it.
PACKAGE_PARENT = Path(__file__).resolve().parents[1]


# Ports handed out by free_port in this process: two calls never return the same one, even
# before the first is bound.
_HANDED_OUT: set[int] = set()


def _ephemeral_low(default: int = 32768) -> int:
    """The lowest port the kernel gives outgoing connections (Linux: ip_local_port_range)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing uses right now, below the kernel's ephemeral range.

    A port the kernel picks for bind(0) comes from the range it also gives outgoing
    connections, so between this call and the server's bind any client connection (a
    readiness probe, a Prometheus scrape) may take it as its source port. Below that range
    only a listener can take it."""
    low = _ephemeral_low()
    # An unusual kernel setting leaves no room below: then the kernel chooses.
    candidates = random.sample(range(10000, low), k=200) if low > 11024 else []
    for port in candidates:
        if port not in _HANDED_OUT and _bindable(host, port):
            _HANDED_OUT.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        chosen: int = sock.getsockname()[1]
    _HANDED_OUT.add(chosen)
    return chosen


def stop_process(process: psutil.Process, timeout: float = 30, sig: int = signal.SIGTERM) -> int | None:
    """Send `sig` (graceful: servers finish in-flight requests), SIGKILL after `timeout` seconds.

    Returns the exit code when `process` is our child (psutil.Popen), None otherwise."""
    try:
        process.send_signal(sig)
        try:
            code: int | None = process.wait(timeout)
        except psutil.TimeoutExpired:
            process.kill()
            code = process.wait(timeout)
    except psutil.NoSuchProcess:
        code = process.wait(0) if isinstance(process, psutil.Popen) else None
    return code


def log_tail(path: Path | None, lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:]) if path else ""
    except OSError:
        return "(no log)"


class ChildProcess:
    """`command` as a child process whose stdout and stderr go to `log_path` (a temporary file if
    omitted). `python_path` folders are put in front of PYTHONPATH; `detach` starts it in its own
    session, so it outlives the caller (background services); `stop_signal` is what `stop` sends
    first (SIGINT makes Locust write its reports before it exits)."""

    def __init__(self, command: Sequence[str], log_path: Path | None = None, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, python_path: Sequence[Path] = (), detach: bool = False,
                 stop_signal: int = signal.SIGTERM) -> None:
        self.command = [str(part) for part in command]
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.python_path = list(python_path)
        self.detach = detach
        self.stop_signal = stop_signal
        self.process: psutil.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def spawn(self) -> ChildProcess:
        """Start the process (once); returns at once."""
        if self.process is not None:
            return self
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="child-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **(self.env or {})}
        if self.python_path:
            env["PYTHONPATH"] = os.pathsep.join([*map(str, self.python_path), *filter(None, [env.get("PYTHONPATH")])])
        self._log = self.log_path.open("wb")
        self.process = psutil.Popen(self.command, cwd=self.cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=self.detach)
        return self

    def start(self) -> ChildProcess:
        """Start the process; subclasses also wait until it is ready."""
        return self.spawn()

    def poll(self) -> int | None:
        """The exit code once the process has ended, else None."""
        if self.process is None:
            return None
        code: int | None = self.process.poll()
        return code

    def send_signal(self, sig: int) -> None:
        if self.process is not None and self.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process to end on its own; its exit code (None if not started)."""
        if self.process is None:
            return None
        code: int | None = self.process.wait(timeout)
        return code

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `ready()` until true. If the child exits, the time runs out or the wait is interrupted
        (Ctrl-C), the child is stopped; the first two raise StartupError with the log's last lines."""
        deadline = time.monotonic() + timeout
        try:
            while not ready():
                code = self.poll()
                if code is not None:
                    raise StartupError(f"{what} exited with code {code} while starting; last lines of its log "
                                       f"{self.log_path}:\n{log_tail(self.log_path)}")
                if time.monotonic() > deadline:
                    raise StartupError(f"{what} was not ready after {timeout:.0f}s; last lines of its log "
                                       f"{self.log_path}:\n{log_tail(self.log_path)}")
                time.sleep(0.2)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 30) -> int | None:
        """`stop_signal`, then SIGKILL after `timeout`; the exit code (None if it never started)."""
        process, self.process = self.process, None
        code = stop_process(process, timeout, self.stop_signal) if process is not None else None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)

    def __enter__(self) -> ChildProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


class ServerProcess(ChildProcess):
    """`python -m embedded_tfserving FLAGS` as a child. Ports given as 0 or left out become free ports
    (so parallel servers never clash); `ca_file`/`api_key` let the readiness probe reach a server
    that requires TLS or an API key. `package_parent`: the folder the server's package is imported
    from (another release's, to compare servers side by side); the child starts there."""

    def __init__(self, flags: Sequence[str], log_path: Path | None = None, *, cwd: Path | None = None,
                 env: dict[str, str] | None = None, detach: bool = False, ca_file: Path | None = None,
                 api_key: str = "", package_parent: Path = PACKAGE_PARENT) -> None:
        parsed = parse_flags(list(flags))  # fail here, in the caller, on a bad flag
        # Only ports given explicitly (and non-zero) are kept: the gRPC default, 8500, would make
        # parallel servers collide.
        explicit_grpc = any(f.startswith("--port=") for f in flags)
        self.grpc_port = (parsed.port if explicit_grpc else 0) or free_port()
        self.rest_port = parsed.rest_api_port or free_port()
        self.bind_address = parsed.bind_address
        self.model_name = _first_model_name(parsed, cwd)
        self.ca_file, self.api_key = ca_file, api_key
        flags = [f for f in flags if not f.startswith(("--port=", "--rest_api_port="))]
        flags += [f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}"]
        # `python -m` puts its working folder first on sys.path: another package_parent runs from there
        super().__init__([sys.executable, "-m", __package__, *flags], log_path,
                         cwd=cwd if package_parent == PACKAGE_PARENT else package_parent,
                         env={"TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}, python_path=[package_parent],
                         detach=detach)

    @property
    def host(self) -> str:
        return "127.0.0.1" if self.bind_address in ("0.0.0.0", "::", "") else self.bind_address

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.ca_file else 'http'}://{self.host}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    def start(self, timeout: float = 120) -> ServerProcess:
        """Spawn the server and return once its model answers the status request as AVAILABLE."""
        if self.process is None:
            self.spawn()
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        self.wait_until(self.model_available, timeout, f"the embedded server (model {self.model_name})")

    def model_available(self) -> bool:
        """Whether GET /v1/models/<model> lists a version in state AVAILABLE."""
        headers = {"X-API-Key": self.api_key} if self.api_key else {}
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        request = urllib.request.Request(f"{self.rest_url}/v1/models/{self.model_name}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as reply:
                status: dict[str, Any] = json.loads(reply.read())
        except (OSError, ValueError, urllib.error.URLError):
            return False
        # ModelVersionStatus.AVAILABLE by name (the status protos would import TensorFlow here).
        return any(v.get("state") == "AVAILABLE" for v in status.get("model_version_status", []))

    def __enter__(self) -> ServerProcess:
        return self


def _first_model_name(parsed: Any, cwd: Path | None) -> str:
    """The model whose status tells that the server is ready: --model_name or the config's first."""
    if not parsed.model_config_file:
        name: str = parsed.model_name
        return name
    from .config import read_model_server_config

    path = Path(parsed.model_config_file)
    config = read_model_server_config(path if path.is_absolute() or cwd is None else cwd / path)
    first: str = config.model_config_list.config[0].name
    return first
