"""Publish a SavedModel as a new version of a model, atomically: `models/<name>/<version>/`.

TF Serving polls the base path and loads any integer-named folder it finds, so a half-copied
version gets loaded (and fails, or serves garbage). Here the copy is built in a hidden staging
folder beside the versions (same file system; a non-integer name, which TF Serving ignores),
flushed to disk, checked, and only then renamed to its version number in one step.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from ..contract import published_versions
from ..errors import ExportError


def check_savedmodel(folder: Path) -> None:
    """A complete SavedModel: a saved_model.pb that parses, with a meta graph, and variables/."""
    from tensorflow.core.protobuf import saved_model_pb2

    graph_file = folder / "saved_model.pb"
    if not graph_file.is_file():
        raise ExportError(f"{folder} is not a SavedModel: it has no saved_model.pb; export one with `make export`")
    saved_model = saved_model_pb2.SavedModel()
    try:
        saved_model.ParseFromString(graph_file.read_bytes())
    except Exception as error:  # protobuf's DecodeError and friends
        raise ExportError(f"{graph_file} is corrupt ({type(error).__name__}: {error}); re-export the model") from None
    if not saved_model.meta_graphs:
        raise ExportError(f"{graph_file} holds no meta graph (truncated or empty file?); re-export the model")
    if not (folder / "variables").is_dir():
        raise ExportError(f"{folder} is not a complete SavedModel: variables/ is missing; re-export the model")


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder, so a crash right after the rename cannot leave empty files."""
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as handle:
                os.fsync(handle.fileno())
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def publish_version(source_dir: Path, models_dir: Path, model_name: str, version: int | None = None) -> int:
    """Copy the SavedModel in `source_dir` to models_dir/model_name/<version>; returns the version.

    `version` defaults to the highest existing version + 1 (1 for the first). An existing version
    is never replaced. Republishing an older version's folder under a new number is a rollback.
    """
    source_dir, models_dir = Path(source_dir), Path(models_dir)
    if not model_name or "/" in model_name or model_name.startswith("."):
        raise ExportError(f"model name {model_name!r} cannot be a folder name; set MODEL_NAME in .env")
    if not source_dir.is_dir():
        raise ExportError(f"SavedModel folder {source_dir} not found")
    if version is not None and version < 0:
        raise ExportError(f"version must be a non-negative integer, got {version}")
    check_savedmodel(source_dir)
    base_path = models_dir / model_name
    base_path.mkdir(parents=True, exist_ok=True)
    staging = base_path / f".tmp-{uuid.uuid4().hex}"
    try:
        shutil.copytree(source_dir, staging)
        _fsync_tree(staging)
        check_savedmodel(staging)
        versions = published_versions(base_path)
        if version is None:
            version = max(versions, default=0) + 1
        target = base_path / str(version)
        # Checked just before the rename: os.rename would silently replace an *empty* folder.
        if version in versions or os.path.lexists(target):
            taken = versions.get(version, target)
            raise ExportError(
                f"version {version} of model {model_name} already exists ({taken}); "
                "published versions are never overwritten: omit --version to publish the next one"
            )
        os.rename(staging, target)
        _fsync_dir(base_path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return version
