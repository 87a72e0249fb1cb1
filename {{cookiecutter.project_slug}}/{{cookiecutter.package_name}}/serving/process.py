"""Run the embedded model server as a child process: for tests, load tests and benchmarks.

    with EmbeddedServer(["--rest_api_port=0", "--model_name=ctr", "--model_base_path=models/ctr"]) as server:
        server.start()
        requests.post(f"{server.rest_url}/v1/models/ctr:predict", json=...)

Ports given as 0 (or left out) are replaced by free ones, so parallel runs never clash.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from .flags import parse_flags

PACKAGE = __package__.rsplit(".", 1)[0]
# The folder holding the package, put on PYTHONPATH so `python -m <package>.serving` works from any cwd.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerStartError(RuntimeError):
    """The server process exited or did not become ready in time."""


class EmbeddedServer:
    """`python -m <package>.serving *flags` in a subprocess, stopped on exit from the `with` block."""

    def __init__(self, flags: list[str], *, cwd: Path | None = None, log_path: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        parsed = parse_flags(flags)  # fail here, in the caller, on a bad flag
        # Only ports given explicitly (and non-zero) are kept: the gRPC default, 8500, would make
        # parallel servers collide.
        explicit_grpc_port = any(f.startswith("--port=") for f in flags)
        self.grpc_port = (parsed.port if explicit_grpc_port else 0) or free_port()
        self.rest_port = parsed.rest_api_port or free_port()
        self.flags = [f for f in flags if not f.startswith(("--port=", "--rest_api_port="))]
        self.flags += [f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}"]
        self.model_name = _first_model_name(parsed, cwd)
        self.cwd = cwd
        self.log_path = log_path
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file = None

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self, timeout: float = 120) -> EmbeddedServer:
        """Spawn the server and return once the model answers its status request as AVAILABLE."""
        if self.process is not None:
            return self
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="embedded-server-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("wb")
        env = {**os.environ, **(self.env or {})}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), env.get("PYTHONPATH")]))
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.process = subprocess.Popen([sys.executable, "-m", f"{PACKAGE}.serving", *self.flags],
                                        cwd=self.cwd, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not self._available():
            if self.process.poll() is not None:
                code = self.process.returncode
                self.stop()
                raise ServerStartError(f"the embedded server exited with code {code} before serving "
                                       f"model {self.model_name}; log {self.log_path}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"the embedded server did not serve model {self.model_name} within "
                                       f"{timeout:.0f}s; log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.2)
        return self

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (graceful: in-flight requests finish), then SIGKILL after `timeout`; the exit code."""
        process, self.process = self.process, None
        code = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            code = process.returncode
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def log_tail(self, lines: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _available(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.rest_url}/v1/models/{self.model_name}", timeout=2) as reply:
                status = json.loads(reply.read())
        except (OSError, ValueError, urllib.error.URLError):
            return False
        return any(v.get("state") == "AVAILABLE" for v in status.get("model_version_status", []))

    def __enter__(self) -> EmbeddedServer:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def _first_model_name(parsed, cwd: Path | None) -> str:
    """The model whose status tells that the server is ready: --model_name or the config's first."""
    if not parsed.model_config_file:
        return parsed.model_name
    from .config import read_model_server_config

    path = Path(parsed.model_config_file)
    config = read_model_server_config(path if path.is_absolute() or cwd is None else cwd / path)
    return config.model_config_list.config[0].name
