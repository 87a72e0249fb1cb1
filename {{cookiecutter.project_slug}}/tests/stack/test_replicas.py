"""Scale-out settings that need no Docker: which profile REPLICAS picks, what it refuses, the pinned
model config each replica reads, and Prometheus' discovery of the replicas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from embedded_tfserving.config import read_model_server_config
from tfserving_stack import compose, compose_file, replicas
from tfserving_stack.errors import StackError
from tfserving_stack.project import Project
from tfserving_stack.prometheus import local_config, target_map

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

from ..helpers import read_env


def project(tmp_path: Path, **settings: str) -> Project:
    (tmp_path / "compose").mkdir(exist_ok=True)
    (tmp_path / "compose" / "models.config").write_text((PROJECT_ROOT / "compose" / "models.config").read_text())
    return Project(root=tmp_path, env={**read_env(PROJECT_ROOT), "COMPOSE_PROFILES": "cpu,grafana", **settings})


def test_replicas_above_one_turn_the_cpu_profile_into_the_replicas_profile(tmp_path: Path) -> None:
    assert compose.profiles(project(tmp_path)) == ["cpu", "grafana"]
    assert compose.profiles(project(tmp_path, REPLICAS="1")) == ["cpu", "grafana"]
    assert compose.profiles(project(tmp_path, REPLICAS="3")) == ["replicas", "grafana"]
    # The replicas profile starts the replicas and the balancer in place of the one TF Serving.
    services = compose_file.active_services(compose_file.load(settings.project()), ["replicas"])
    assert {"tfserving-replica", "balancer"} <= set(services) and "tfserving" not in services


@pytest.mark.parametrize("value", ["0", "9", "three", "-1"])
def test_a_bad_replica_count_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(StackError, match=f"REPLICAS='{value}' must be a whole number from 1 to 8"):
        compose.profiles(project(tmp_path, REPLICAS=value))


def test_replicas_with_the_secure_profile_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="REPLICAS=3 runs CPU replicas behind a balancer, which the secure profile"):
        compose.profiles(project(tmp_path, REPLICAS="3", COMPOSE_PROFILES="secure"))


def test_replicas_without_docker_are_refused_before_anything_starts(make_project) -> None:
    root = make_project()
    done = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "serve"], cwd=root,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(PROJECT_ROOT), "SERVE_MODE": "embedded",
                               "REPLICAS": "3", "HOME": str(root)})
    assert done.returncode != 0
    assert "REPLICAS=3 needs the compose stack" in done.stderr
    assert not (root / "run" / "embedded").exists()


def test_each_replica_reads_the_compose_model_config_pinned_to_its_version(tmp_path: Path) -> None:
    scratch = project(tmp_path)
    relative = replicas.pin(scratch, 7)
    path = tmp_path / relative  # run/ of the project is /config/run/ in a replica
    assert path.parent == tmp_path / "run" / "replicas"
    (model,) = read_model_server_config(path).model_config_list.config
    shipped = read_model_server_config(PROJECT_ROOT / "compose" / "models.config").model_config_list.config[0]
    assert model.model_version_policy.WhichOneof("policy_choice") == "specific"
    assert list(model.model_version_policy.specific.versions) == [7]
    assert (model.name, model.base_path) == (shipped.name, shipped.base_path)
    compose_text = (PROJECT_ROOT / "compose" / "docker-compose.yml").read_text()
    assert "../run:/config/run:ro" in compose_text and "--model_config_file=/config/${REPLICA_MODEL_CONFIG" in compose_text


def test_prometheus_discovers_the_replicas_and_the_local_copy_scrapes_the_embedded_server() -> None:
    shipped = yaml.safe_load((PROJECT_ROOT / "compose" / "prometheus.yml").read_text())
    (job,) = [j for j in shipped["scrape_configs"] if j["job_name"] == "tfserving"]
    assert job["dns_sd_configs"][0]["names"] == ["tfserving-replica"]
    local_project = settings.project()
    local = local_config(shipped, target_map(local_project))
    (local_job,) = [j for j in local["scrape_configs"] if j["job_name"] == "tfserving"]
    assert "dns_sd_configs" not in local_job
    assert local_job["static_configs"] == [{"targets": [f"127.0.0.1:{local_project.port('REST_PORT')}"]}]
