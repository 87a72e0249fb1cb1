"""What the scenarios share: the model to serve, the embedded server and its flags."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embedded_tfserving.errors import StartupError
from embedded_tfserving.process import ServerProcess

from ...errors import LoadTestError
from ...settings import PROJECT_ROOT
from ...stack.embedded import server_flags as compose_server_flags
from ...stack.project import Project
from ..preflight import newest_version


@contextmanager
def models_root(models_dir: Path, model_name: str, in_place: bool) -> Iterator[Path]:
    """A models folder holding a copy of the newest version, so experiments never touch yours."""
    newest = newest_version(models_dir, model_name)
    if in_place:
        yield models_dir
        return
    with tempfile.TemporaryDirectory(prefix="loadtest-models-") as tmp:
        root = Path(tmp)
        shutil.copytree(newest, root / model_name / newest.name)
        yield root


def server_flags(models_dir: Path, *, batching: bool, poll_seconds: int = 1) -> list[str]:
    """The compose service's flags (models.config, monitoring, batching file), free ports, the
    given models folder, batching off or on."""
    return compose_server_flags(Project.load(PROJECT_ROOT), grpc_port=0, rest_port=0, models_dir=models_dir,
                                batching=batching, file_system_poll_seconds=poll_seconds)


def start_server(flags: list[str], log_path: Path) -> ServerProcess:
    server = ServerProcess(flags, log_path, cwd=PROJECT_ROOT)
    try:
        return server.start(timeout=180)
    except StartupError as error:
        raise LoadTestError(str(error)) from None


def default_workers() -> int:
    """Locust worker processes: one per four cores, leaving the rest to the server (1 on small machines)."""
    return max(1, (os.cpu_count() or 1) // 4)
