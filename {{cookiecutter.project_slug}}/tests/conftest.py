"""Fixtures shared by every folder of the project's tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.data.schema import Schema, load_schema

from .helpers import PORT_SETTINGS, PublishedModel, export_in_tf_module, publish_tiny_model, scratch_project


@pytest.fixture(scope="session")
def schema() -> Schema:
    return load_schema()


@pytest.fixture(scope="session")
def published_model(tmp_path_factory: pytest.TempPathFactory) -> PublishedModel:
    """A CTR model published as <models_dir>/<name>/1 (name from MODEL_NAME, else "ctr"). Do not modify it."""
    return publish_tiny_model(tmp_path_factory.mktemp("published"), os.environ.get("MODEL_NAME") or "ctr")


@pytest.fixture(scope="session")
def tf_module_export(published_model: PublishedModel, schema: Schema, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """published_model's Keras model written the old way, which TF Serving cannot run (helpers.export_in_tf_module)."""
    return export_in_tf_module(published_model.artifacts_dir / "model.keras", tmp_path_factory.mktemp("tf_module") / "export",
                               schema, published_model.name)


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """Makes a scratch project (see helpers.scratch_project) whose .env is authoritative."""
    # The environment overrides .env (as in compose): clear what the scratch .env sets.
    for key in (*PORT_SETTINGS, "MODEL_NAME", "MODELS_DIR", "SERVE_MODE"):
        monkeypatch.delenv(key, raising=False)
    return lambda models_dir=None, **settings: scratch_project(tmp_path / "project", models_dir, **settings)
