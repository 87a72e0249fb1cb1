"""Fixtures shared by every test folder: the schema and one quickly trained, published model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.data.schema import Schema, load_schema


@dataclass(frozen=True)
class PublishedModel:
    name: str
    models_dir: Path  # the models/ folder: serve it with --model_base_path=<base_path>
    base_path: Path  # models_dir / name
    version: int
    artifacts_dir: Path  # model.keras and evaluation.json it was exported from


@pytest.fixture(scope="session")
def schema() -> Schema:
    return load_schema()


def publish_tiny_model(root: Path, name: str, rows: int = 4000, epochs: int = 1, seed: int = 0) -> PublishedModel:
    """Train on a few synthetic rows, export and publish as version 1: the real path, in seconds."""
    from {{ cookiecutter.package_name }}.data.synthetic import generate
    from {{ cookiecutter.package_name }}.export.publish import publish_version
    from {{ cookiecutter.package_name }}.export.savedmodel import export_savedmodel
    from {{ cookiecutter.package_name }}.train import save_artifacts, train_model

    schema = load_schema()
    artifacts_dir = root / "artifacts"
    trained = train_model(schema, generate(schema, rows, seed), epochs=epochs, batch_size=256, seed=seed)
    model_path = save_artifacts(trained, artifacts_dir)
    exported = export_savedmodel(model_path, root / "export", schema, name, trained.evaluation, warmup_requests=20)
    models_dir = root / "models"
    version = publish_version(exported, models_dir, name)
    return PublishedModel(name, models_dir, models_dir / name, version, artifacts_dir)


@pytest.fixture(scope="session")
def published_model(tmp_path_factory: pytest.TempPathFactory) -> PublishedModel:
    """A CTR model published as <models_dir>/<name>/1 (name from MODEL_NAME, else "ctr"). Do not modify it."""
    return publish_tiny_model(tmp_path_factory.mktemp("published"), os.environ.get("MODEL_NAME") or "ctr")
