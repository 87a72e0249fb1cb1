"""A model server the toolkit starts itself (the tuner once per candidate, the batching
comparison once with batching off and once on): any command that takes tensorflow_model_server's
flags (`tensorflow_model_server ...` itself, or `embedded-tfserving ...`).

The toolkit adds the ports (free ones, on loopback) and the batching flags, and waits until the
model has an AVAILABLE version. A project may start its servers its own way: anything with the
`Server` shape will do.
"""

from __future__ import annotations

import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests
from embedded_tfserving.errors import StartupError
from embedded_tfserving.process import ChildProcess, free_port

from .errors import LoadTestError
from .preflight import AVAILABLE

OWN_FLAGS = ("--port", "--rest_api_port", "--enable_batching", "--batching_parameters_file")


class Server(Protocol):
    """A started model server (RunningServer, or a project's own)."""

    @property
    def rest_url(self) -> str: ...

    @property
    def grpc_target(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    def stop(self) -> object: ...


@dataclass
class RunningServer:
    rest_url: str
    grpc_target: str
    process: ChildProcess

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def stop(self) -> None:
        self.process.stop()


def check_command(command: str) -> list[str]:
    """The command's words; LoadTestError when it is empty or sets a flag the tuner sets itself."""
    words = shlex.split(command)
    if not words:
        raise LoadTestError("--server-command is empty: give the command that starts your model server, "
                            "e.g. 'tensorflow_model_server --model_name=m --model_base_path=/models/m'")
    if shutil.which(words[0]) is None:
        raise LoadTestError(f"--server-command: {words[0]} is not a program found on PATH")
    taken = [word for word in words if word.split("=")[0] in OWN_FLAGS]
    if taken:
        raise LoadTestError(f"--server-command sets {', '.join(taken)}: the tuner sets the ports and the batching "
                            "flags of each candidate itself; leave them out")
    return words


def start(command: str, model_name: str, log_path: Path, *, batching: bool = True, batching_file: Path | None = None,
          timeout: float = 180) -> RunningServer:
    """`command` with free ports, batching on (with `batching_file`'s parameters, else TF Serving's
    defaults) or off, once `model_name` is AVAILABLE."""
    grpc_port, rest_port = free_port(), free_port()
    words = [*check_command(command), f"--port={grpc_port}", f"--rest_api_port={rest_port}"]
    if batching:
        words.append("--enable_batching=true")
    if batching and batching_file is not None:
        words.append(f"--batching_parameters_file={batching_file.resolve()}")
    rest_url = f"http://127.0.0.1:{rest_port}"
    process = ChildProcess(words, log_path)

    def ready() -> bool:
        try:
            status = requests.get(f"{rest_url}/v1/models/{model_name}", timeout=2)
        except requests.RequestException:
            return False
        return status.ok and any(v.get("state") == AVAILABLE for v in status.json().get("model_version_status", []))

    try:
        process.spawn()
    except OSError as error:
        raise LoadTestError(f"--server-command cannot start: {error}") from None
    try:
        process.wait_until(ready, timeout, f"the model server ({words[0]})")
    except StartupError as error:
        raise LoadTestError(str(error)) from None
    return RunningServer(rest_url, f"127.0.0.1:{grpc_port}", process)
