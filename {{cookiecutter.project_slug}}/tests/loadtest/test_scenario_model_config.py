"""The scenarios' own servers read an unpinned copy of the project's models.config once `make
canary` has pinned it (the canary's rule and the config edits are the toolkit's, tested there)."""

from __future__ import annotations

import os
from pathlib import Path

from tfserving_loadtest import model_config
from tfserving_loadtest.canary_policy import STABLE

from {{ cookiecutter.package_name }}.loadtest.scenarios.common import own_model_config
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT


def model() -> str:
    return os.environ.get("MODEL_NAME") or "{{ cookiecutter.model_name }}"


def test_scenario_servers_get_the_template_policy_once_the_config_is_pinned(tmp_path: Path) -> None:
    """After `make canary`, the project's config names versions a scenario's copy of the newest
    version lacks; its own server reads an unpinned copy instead."""
    config_file = tmp_path / "models.config"
    config_file.write_text((PROJECT_ROOT / "compose" / "models.config").read_text())
    assert own_model_config(config_file, model(), tmp_path / "run") is None
    model_config.write(config_file, model_config.pinned(model_config.read(config_file), model(), [1, 2], {STABLE: 2}), "x")
    path = own_model_config(config_file, model(), tmp_path / "run")
    assert path is not None
    served = model_config.read(path)
    assert model_config.pinned_versions(served, model()) is None and model_config.labels(served, model()) == {}
    assert model_config.model_entry(served, model()).model_version_policy.latest.num_versions == 2
