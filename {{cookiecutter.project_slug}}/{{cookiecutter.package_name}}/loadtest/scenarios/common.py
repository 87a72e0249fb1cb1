"""What this project's scenarios share: the model to serve on a copy, and the embedded server with
the compose service's flags (the toolkit's batching, swap and tune-batching run on it)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embedded_tfserving.errors import StartupError
from embedded_tfserving.process import ServerProcess
from tfserving_loadtest import model_config
from tfserving_stack.embedded import server_flags as compose_server_flags

from ...errors import LoadTestError
from ...settings import PROJECT_ROOT, project
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


def server_flags(models_dir: Path, *, batching: bool, poll_seconds: int = 1,
                 batching_file: Path | None = None) -> list[str]:
    """The compose service's flags (models.config, monitoring, batching file), free ports, the
    given models folder, batching off or on (with `batching_file` in place of compose's)."""
    ours = project()
    flags = compose_server_flags(ours, grpc_port=0, rest_port=0, models_dir=models_dir,
                                 batching=batching, file_system_poll_seconds=poll_seconds)
    config = own_model_config(ours.compose_dir / "models.config", ours.model_name, ours.run_dir)
    if config is not None:
        flags = _replace_flag(flags, "--model_config_file", config)
    if batching_file is not None:
        flags = _replace_flag(flags, "--batching_parameters_file", batching_file.resolve())
    return flags


def _replace_flag(flags: list[str], name: str, value: Path) -> list[str]:
    return [f"{name}={value}" if flag.startswith(f"{name}=") else flag for flag in flags]


def own_model_config(config_path: Path, model_name: str, run_dir: Path) -> Path | None:
    """The models.config for a scenario's own server, when the project's cannot serve: once `make
    canary` has pinned versions and labels there, it names versions that the scenario's copy of the
    newest version lacks. None: the project's file serves as it is."""
    config = model_config.read(config_path)
    if model_config.pinned_versions(config, model_name) is None and not model_config.labels(config, model_name):
        return None
    path = run_dir / "scenario-models.config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model_config.render(model_config.unpinned(config, model_name),
                                        f"{config_path} with the template's version policy and no labels, "
                                        "for the load-test scenarios' own servers"))
    return path


def start_server(flags: list[str], log_path: Path) -> ServerProcess:
    server = ServerProcess(flags, log_path, cwd=PROJECT_ROOT)
    try:
        return server.start(timeout=180)
    except StartupError as error:
        raise LoadTestError(str(error)) from None


def default_workers() -> int:
    """Locust worker processes: one per four cores, leaving the rest to the server (1 on small machines)."""
    return max(1, (os.cpu_count() or 1) // 4)
