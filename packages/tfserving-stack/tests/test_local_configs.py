"""What the embedded mode derives from the compose files: the server's flags (the compose command,
mounted files read in place, the models mount as a base path map) and the local Prometheus' config
(compose service names rewritten to this machine's ports), and the SLO rules from .env."""

from __future__ import annotations

import pytest
import yaml

from tfserving_stack import prometheus, slo_rules
from tfserving_stack.embedded import server_flags
from tfserving_stack.errors import StackError
from tfserving_stack.project import Project


def test_the_server_runs_the_compose_command_with_mounted_files_in_place(make_project) -> None:
    project = Project.load(make_project(with_model=False))
    flags = server_flags(project)
    compose = project.compose_dir
    assert flags == [
        f"--port={project.port('GRPC_PORT')}", f"--rest_api_port={project.port('REST_PORT')}",
        "--model_name=half_plus_two", "--model_base_path=/models/half_plus_two",
        f"--monitoring_config_file={compose / 'monitoring.config'}", "--file_system_poll_wait_seconds=1",
        f"--base_path_map=/models={project.models_dir}",
    ]
    scenario = server_flags(project, grpc_port=0, rest_port=0, file_system_poll_seconds=5, models_dir=project.root)
    assert scenario[:2] == ["--port=0", "--rest_api_port=0"] and "--file_system_poll_wait_seconds=5" in scenario
    assert scenario[-1] == f"--base_path_map=/models={project.root}"


def test_prometheus_scrapes_this_machine_s_ports(make_project) -> None:
    project = Project.load(make_project(with_model=False))
    compose_config = yaml.safe_load((project.compose_dir / "prometheus.yml").read_text())
    config = prometheus.local_config(compose_config, prometheus.target_map(project), "1s",
                                     compose_dir=project.compose_dir)
    targets = {job["job_name"]: [t for s in job["static_configs"] for t in s["targets"]] for job in config["scrape_configs"]}
    assert targets == {"tfserving": [f"127.0.0.1:{project.port('REST_PORT')}"],
                       "loadtest": [f"127.0.0.1:{project.port('LOADTEST_METRICS_PORT')}"],
                       "prometheus": [f"127.0.0.1:{project.port('PROMETHEUS_PORT')}"]}
    assert config["global"] == {"scrape_interval": "1s", "evaluation_interval": "1s"}
    assert config["rule_files"] == [str(project.compose_dir / "rules" / "*.yml")]


def test_slo_rules_follow_env_and_refuse_objectives_out_of_range(make_project) -> None:
    project = Project.load(make_project(with_model=False, SLO_P99_MS="50"))
    path = slo_rules.write_slo_rules(project)
    rules = yaml.safe_load(path.read_text())
    recorded = {rule["record"]: rule["expr"] for group in rules["groups"] for rule in group["rules"] if "record" in rule}
    assert recorded["slo:latency_seconds:objective"] == "vector(0.05)"
    assert recorded["slo:availability:objective"] == "vector(0.999)"
    for settings, message in (({"SLO_AVAILABILITY": "1.5", "SLO_P99_MS": "50"}, "must lie strictly between 0 and 1"),
                              ({"SLO_AVAILABILITY": "0.99", "SLO_P99_MS": "0.001"}, "outside TF Serving's latency buckets"),
                              ({"SLO_P99_MS": "50"}, "SLO_AVAILABILITY is not set")):
        with pytest.raises(StackError, match=message):
            slo_rules.Slo.from_settings(settings)
