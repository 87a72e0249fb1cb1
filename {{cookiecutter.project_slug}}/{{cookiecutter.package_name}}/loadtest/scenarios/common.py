"""What the scenarios share: the model to serve, the embedded server's flags, progress output."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ...export.publish import existing_versions
from ..errors import LoadTestError
from ..settings import COMPOSE_DIR, PROJECT_ROOT


def say(message: str) -> None:
    click.echo(message, err=True)


def newest_version(models_dir: Path, model_name: str) -> Path:
    base = models_dir / model_name
    versions = existing_versions(base)
    if not versions:
        raise LoadTestError(f"no published version of model {model_name!r} under {base}: "
                            "run `make train export` first, or pass --models-dir")
    return versions[max(versions)]


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
    """Flags as in compose (models.config, monitoring, batching file), ports chosen free.

    compose/models.config names base paths under /models, mapped here to `models_dir`.
    """
    flags = [
        "--port=0", "--rest_api_port=0",
        f"--model_config_file={COMPOSE_DIR / 'models.config'}",
        f"--base_path_map=/models={models_dir.resolve()}",
        f"--monitoring_config_file={COMPOSE_DIR / 'monitoring.config'}",
        f"--file_system_poll_wait_seconds={poll_seconds}",
    ]
    if batching:
        flags += ["--enable_batching", f"--batching_parameters_file={COMPOSE_DIR / 'batching.conf'}"]
    return flags


def start_server(flags: list[str], log_path: Path):  # -> EmbeddedServer
    from ...serving.process import EmbeddedServer, ServerStartError

    server = EmbeddedServer(flags, cwd=PROJECT_ROOT, log_path=log_path)
    try:
        return server.start(timeout=180)
    except ServerStartError as error:
        raise LoadTestError(str(error)) from None


def default_processes() -> int:
    """Locust processes: one per four cores, leaving the rest to the server (1 on small machines)."""
    import os

    return max(1, (os.cpu_count() or 1) // 4)
