"""The pre-generation hook rejects bad answers with a message and renders nothing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import REPO

COOKIECUTTER = [sys.executable, "-m", "cookiecutter", "--no-input"]


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        (["package_name=1ctr"], "package_name '1ctr' is not a lower-case Python identifier"),
        (["package_name=class"], "package_name 'class' is not a lower-case Python identifier"),
        (["model_name=ctr/../../etc"], "is not URL-safe"),
        (["model_name=my model"], "is not URL-safe"),
        (["rest_port=70000"], "rest_port '70000' is not a port number"),
        (["rest_port=http"], "rest_port 'http' is not a port number"),
        (["grpc_port=8501"], "grpc_port 8501 clashes with rest_port"),
        (["prometheus_port=9093"], "prometheus_port 9093 clashes with ALERTMANAGER_PORT (fixed in .env)"),
        (["rest_port=8089"], "rest_port 8089 clashes with LOCUST_WEB_PORT (fixed in .env)"),
        (["max_batch_size=0"], "max_batch_size '0' must be a positive integer"),
        (["tfserving_version=latest"], "tfserving_version 'latest' must be a release"),
    ],
)
def test_bad_answers_are_rejected_before_rendering(tmp_path: Path, answers: list[str], message: str) -> None:
    result = subprocess.run(
        [*COOKIECUTTER, "-o", str(tmp_path), str(REPO), *answers], text=True, capture_output=True
    )
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
    assert not any(tmp_path.iterdir()), "a rejected answer set must not leave a half-rendered project"


def test_good_answers_render(tmp_path: Path) -> None:
    result = subprocess.run(
        [*COOKIECUTTER, "-o", str(tmp_path), str(REPO), "project_name=Good One", "model_name=m.v2"],
        text=True, capture_output=True,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "good-one" / "good_one" / "cli" / "__init__.py").is_file()


def test_a_project_name_with_accents_gets_an_ascii_slug_and_package(tmp_path: Path) -> None:
    result = subprocess.run([*COOKIECUTTER, "-o", str(tmp_path), str(REPO), "project_name=Ünïcode Ads"],
                            text=True, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "unicode-ads" / "unicode_ads" / "cli" / "__init__.py").is_file()


def test_the_hooks_fixed_ports_are_the_rendered_env_s(tmp_path: Path) -> None:
    """Every port .env sets that is not an answer is one the hook keeps answers off, and no other."""
    result = subprocess.run([*COOKIECUTTER, "-o", str(tmp_path), str(REPO)], text=True, capture_output=True)
    assert result.returncode == 0, result.stderr
    env = dict(line.split("=", 1) for line in (tmp_path / "ctr-serving" / ".env").read_text().splitlines()
               if "=" in line and not line.startswith("#"))
    answers = {"REST_PORT", "GRPC_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT"}
    fixed = {name: int(value) for name, value in env.items() if name.endswith("_PORT") and name not in answers}
    spec = importlib.util.spec_from_file_location("pre_gen_project", REPO / "hooks" / "pre_gen_project.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    assert {name: port for port, name in hook.FIXED_PORTS.items()} == fixed
