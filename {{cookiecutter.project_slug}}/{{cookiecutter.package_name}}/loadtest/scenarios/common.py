"""What the scenarios share: the model to serve, the embedded server and its flags, and running
Locust while a driver changes the server."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from embedded_tfserving.errors import StartupError
from embedded_tfserving.process import ServerProcess
from tfserving_loadtest import locust_run
from tfserving_loadtest.report import say

from ...errors import LoadTestError
from ...settings import PROJECT_ROOT
from ...stack import model_config
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


def server_flags(models_dir: Path, *, batching: bool, poll_seconds: int = 1,
                 batching_file: Path | None = None) -> list[str]:
    """The compose service's flags (models.config, monitoring, batching file), free ports, the
    given models folder, batching off or on (with `batching_file` in place of compose's)."""
    project = Project.load(PROJECT_ROOT)
    flags = compose_server_flags(project, grpc_port=0, rest_port=0, models_dir=models_dir,
                                 batching=batching, file_system_poll_seconds=poll_seconds)
    config = own_model_config(project.compose_dir / "models.config", project.model_name, project.run_dir)
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


class Driver(threading.Thread):
    """What a scenario does to the server while Locust runs (`steps`): `done` once the steps are
    over or failed (`error` says why), `cancel` set when the run ends first."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.error: str | None = None
        self.done = threading.Event()
        self.cancel = threading.Event()

    def run(self) -> None:
        try:
            self.steps()
        except Exception as error:  # reported in the summary; the load still stops cleanly
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.done.set()

    def steps(self) -> None:
        raise NotImplementedError


def run_alongside(spec: locust_run.LocustRun, driver: Driver, finish_seconds: float) -> tuple[locust_run.LocustResult, bool]:
    """Locust runs `spec` until the driver is done; (its result, whether Ctrl-C ended it). The driver
    starts once Locust sends; when the run ends first, it is cancelled and given `finish_seconds` to
    finish the step it is in, so that no step is left half done."""
    timer = threading.Timer(3.0, driver.start)
    timer.start()
    interrupted = False
    try:
        result = locust_run.run(spec, progress=say, stop_when=driver.done.is_set)
    except locust_run.Interrupted as stop:
        result, interrupted = stop.result, True
    finally:
        timer.cancel()
        driver.cancel.set()
        if driver.is_alive():
            driver.join(timeout=finish_seconds)
    return result, interrupted
