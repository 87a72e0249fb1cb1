"""One reading of the project's settings, for the command line and the stack alike: the
environment's non-empty values, else .env, else the answers the project was generated with."""

from __future__ import annotations

import pytest

from tfserving_stack.errors import StackError
from tfserving_stack.project import Project

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.errors import ProjectError


def test_the_environment_wins_over_env_file_which_wins_over_the_answers(make_project, monkeypatch) -> None:
    root = make_project(MODEL_NAME="from-env-file", SLO_P99_MS="250")
    (root / ".env").write_text((root / ".env").read_text().replace("REST_PORT=", "NOT_REST_PORT="))
    monkeypatch.setenv("SLO_P99_MS", "75")
    monkeypatch.setenv("MODEL_NAME", "")  # set but empty: not a value, .env's stands
    found = settings.environment(root)
    assert found["SLO_P99_MS"] == "75" and found["MODEL_NAME"] == "from-env-file"
    assert found["REST_PORT"] == "{{ cookiecutter.rest_port }}"  # .env lacks it: the generation's answer
    assert Project.load(root, settings.GENERATED).env == found  # the stack reads the same


def test_this_project_s_settings_are_read_from_its_own_root(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # the working folder plays no part
    assert settings.project().root == settings.PROJECT_ROOT
    monkeypatch.setenv("GRPC_PORT", "7500")
    assert settings.grpc_port() == settings.project().port("GRPC_PORT") == 7500


def test_a_missing_or_bad_setting_is_named(monkeypatch) -> None:
    monkeypatch.setattr(settings, "environment", lambda root=settings.PROJECT_ROOT: {"REST_PORT": "http"})
    with pytest.raises(ProjectError, match=r"SLO_P99_MS is not set: add it to .*\.env"):
        settings.slo_p99_ms()
    with pytest.raises(StackError, match=r"REST_PORT='http' in \.env is not a TCP port number"):
        settings.rest_port()
    assert settings.setting("SERVING_CA_FILE") == ""  # optional settings are simply empty
