"""The alerting rules of compose/rules/: promtool's checks and unit tests, every alert tested firing
and quiet, slo.yml in step with .env (and its slow ratio with histogram_quantile), dashboard links
that lead to a panel, and a real Prometheus loading the rules from the local configuration."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from embedded_tfserving.metrics import LATENCY_BUCKETS, ServingMetrics
from embedded_tfserving.process import free_port
from tfserving_stack.errors import StackError
from tfserving_stack.project import Project
from tfserving_stack.prometheus import is_ready, prometheus_process, write_local_config
from tfserving_stack.slo_rules import Slo, slo_rules, write_slo_rules

from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT, read_env_file

from ..helpers import require_prometheus_tool

RULES_DIR = PROJECT_ROOT / "compose" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_FILES = sorted((RULES_DIR / "tests").glob("*.yml"))
DASHBOARDS_DIR = PROJECT_ROOT / "dashboards"

# The shared contract of issue "Alerts and SLOs": dashboards, labs and the end-to-end test use these.
ALERTS = {"ModelServerDown", "ModelVersionLoadFailed", "ModelNotServable", "ErrorBudgetBurnFast",
          "ErrorBudgetBurnSlow", "LatencyBudgetBurnFast", "LatencyBudgetBurnSlow", "BatchQueueLatencyHigh",
          "BatchQueueFull", "LoadGeneratorSaturated"}
RECORDED = {"slo:availability:objective", "slo:latency_seconds:objective", "model:request_rate:rate5m",
            *(f"model:{ratio}:rate{w}" for ratio in ("error_ratio", "slow_ratio") for w in ("5m", "30m", "1h", "6h")),
            "model:request_latency_p99_seconds:rate5m", "model:batch_size_avg:rate5m",
            "model:batch_queuing_latency_p99_seconds:rate5m"}


def rules(kind: str) -> list[dict[str, Any]]:
    """Every rule of compose/rules/*.yml of one kind ("alert" or "record")."""
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [rule for rule in group["rules"] if kind in rule]
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_prometheus_tool("promtool"), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("path", RULE_FILES, ids=lambda p: p.name)
def test_rule_file_passes_promtool_check(path: Path) -> None:
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass() -> None:
    assert TEST_FILES, f"no promtool unit tests in {RULES_DIR / 'tests'}"
    result = promtool("test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_have_the_contract_names() -> None:
    assert {rule["alert"] for rule in rules("alert")} == ALERTS
    assert {rule["record"] for rule in rules("record")} == RECORDED


def test_every_alert_says_how_bad_what_and_where() -> None:
    for rule in rules("alert"):
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert {"summary", "description", "dashboard"} <= set(rule["annotations"]), rule["alert"]
        assert "`" in rule["annotations"]["description"], f"{rule['alert']}: the description names no command"


def test_every_alert_rule_has_a_firing_and_a_quiet_unit_test() -> None:
    """Each rule fires in some case with its own labels, and each alert stays quiet in another."""
    firing: list[tuple[str, dict[str, str]]] = []
    quiet: set[str] = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    firing += [(check["alertname"], alert["exp_labels"]) for alert in check["exp_alerts"]]
                else:
                    quiet.add(check["alertname"])
    for rule in rules("alert"):
        labels = {key: str(value) for key, value in rule["labels"].items()}
        assert any(name == rule["alert"] and labels.items() <= expected.items() for name, expected in firing), \
            f"no unit test in {RULES_DIR / 'tests'} fires {rule['alert']} {labels}"
        assert rule["alert"] in quiet, f"no unit test in {RULES_DIR / 'tests'} expects {rule['alert']} not to fire"


def dashboard_panels() -> dict[str, set[int]]:
    """Panel ids of every dashboard, by uid (panels inside collapsed rows included)."""
    panels: dict[str, set[int]] = {}
    for path in DASHBOARDS_DIR.glob("*.json"):
        board = json.loads(path.read_text())
        ids = panels.setdefault(board["uid"], set())
        for panel in board["panels"]:
            ids.add(panel["id"])
            ids.update(inner["id"] for inner in panel.get("panels", []))
    return panels


def test_every_dashboard_link_leads_to_a_panel() -> None:
    panels = dashboard_panels()
    for rule in rules("alert"):
        link = urlsplit(rule["annotations"]["dashboard"])
        uid = link.path.removeprefix("/d/").strip("/")
        assert link.path == f"/d/{uid}/" and uid in panels, f"{rule['alert']}: no dashboard {link.path} in {DASHBOARDS_DIR}"
        panel = parse_qs(link.query).get("viewPanel", [""])[0]
        assert panel.isdigit() and int(panel) in panels[uid], \
            f"{rule['alert']}: dashboard {uid} has no panel {panel!r} (panels {sorted(panels[uid])})"


def test_slo_rules_match_env() -> None:
    expected = slo_rules(Slo.from_settings(read_env_file(PROJECT_ROOT / ".env")))
    assert (RULES_DIR / "slo.yml").read_text(encoding="utf-8") == expected, (
        "compose/rules/slo.yml differs from what .env's SLO_AVAILABILITY and SLO_P99_MS give: "
        "`make serve` rewrites it (tfserving_stack.slo_rules.write_slo_rules)")


def test_write_slo_rules_follows_env(make_project, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("SLO_AVAILABILITY", "SLO_P99_MS"):
        monkeypatch.delenv(key, raising=False)  # the environment would override the scratch .env
    project = Project.load(make_project(SLO_AVAILABILITY="0.99", SLO_P99_MS="250"))
    path = write_slo_rules(project)
    assert path == project.compose_dir / "rules" / "slo.yml"
    objectives = {rule["record"]: rule["expr"] for rule in yaml.safe_load(path.read_text())["groups"][0]["rules"]}
    assert objectives["slo:availability:objective"] == "vector(0.99)"
    assert objectives["slo:latency_seconds:objective"] == "vector(0.25)"
    # 250 ms lies between the buckets of 218591 and 393464 µs.
    assert 'le=~"218591(\\\\.0)?"' in objectives["model:slow_ratio:rate5m"]
    assert 'le=~"393464(\\\\.0)?"' in objectives["model:slow_ratio:rate5m"]
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("settings", "message"), [
    ({"SLO_P99_MS": "100"}, "SLO_AVAILABILITY is not set: add it to .env"),
    ({"SLO_AVAILABILITY": "99.9", "SLO_P99_MS": "100"}, "must lie strictly between 0 and 1"),
    ({"SLO_AVAILABILITY": "high", "SLO_P99_MS": "100"}, "is not a number"),
    ({"SLO_AVAILABILITY": "0.999", "SLO_P99_MS": "nan"}, "is not a finite number"),
    ({"SLO_AVAILABILITY": "0.999", "SLO_P99_MS": "0.001"}, "outside TF Serving's latency buckets"),
])
def test_slo_settings_out_of_range_name_the_fix(settings: dict[str, str], message: str) -> None:
    with pytest.raises(StackError, match=message):
        Slo.from_settings(settings)


def exported_latency_buckets() -> dict[str, int]:
    """Cumulative counts by `le` label, as the server exports them, of requests in every bucket
    (one in the first bucket, two in the second, ...)."""
    metrics = ServingMetrics()
    low = 0.0
    for index, high in enumerate(LATENCY_BUCKETS):
        for _ in range(index + 1):
            metrics.request_latency.labels("ctr", "predict", "REST").observe((low + high) / 2)
        low = high
    metrics.request_latency.labels("ctr", "predict", "REST").observe(LATENCY_BUCKETS[-1] * 2)
    return {sample.labels["le"]: int(sample.value)
            for family in text_string_to_metric_families(metrics.render())
            for sample in family.samples if sample.name == ":tensorflow:serving:request_latency_bucket"}


@pytest.mark.parametrize("p99_ms", [100, 2, 0.05, 0.01, 121.43953109659429, 750, 1000])
def test_slow_ratio_agrees_with_histogram_quantile(tmp_path: Path, p99_ms: float) -> None:
    """Prometheus' own histogram_quantile, at 1 - slow ratio, gives back the objective: the slow
    ratio crosses 1% exactly when the dashboards' p99 crosses SLO_P99_MS."""
    (tmp_path / "slo.yml").write_text(slo_rules(Slo(availability=0.999, p99_seconds=p99_ms / 1000)))
    labels = 'model_name="ctr", API="predict", entrypoint="REST"'
    buckets = exported_latency_buckets()
    series = [{"series": ":tensorflow:serving:request_latency_bucket{" + labels + f', le="{le}"' + "}",
               "values": f"0+{n}x10"} for le, n in buckets.items()]
    series.append({"series": ":tensorflow:serving:request_latency_count{" + labels + "}",
                   "values": f"0+{buckets['+Inf']}x10"})
    quantile = ('histogram_quantile(scalar(1 - model:slow_ratio:rate5m), '
                'sum by (le) (rate(:tensorflow:serving:request_latency_bucket[5m])))')
    target_us = p99_ms * 1000
    unit_test = {
        "rule_files": ["slo.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [{"expr": f"abs({quantile} - {target_us!r}) < bool {target_us * 1e-3!r}",
                                  "eval_time": "10m", "exp_samples": [{"labels": "{}", "value": 1}]}],
        }],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(unit_test))
    result = promtool("test", "rules", str(tmp_path / "test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_prometheus_config_loads_every_rule_file() -> None:
    result = promtool("check", "config", str(PROJECT_ROOT / "compose" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, result.stdout


@pytest.fixture
def local_project(make_project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """A scratch project with free ports, Alertmanager's among them (nothing listens there)."""
    monkeypatch.delenv("ALERTMANAGER_PORT", raising=False)
    return Project.load(make_project(ALERTMANAGER_PORT=str(free_port())))


def test_local_prometheus_config_points_at_the_rules_and_alertmanager(local_project: Project, tmp_path: Path) -> None:
    path = write_local_config(local_project, tmp_path / "prometheus.yml", evaluation_interval="1s")
    config = yaml.safe_load(path.read_text())
    assert config["rule_files"] == [str(local_project.compose_dir.resolve() / "rules" / "*.yml")]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == [f"127.0.0.1:{local_project.port('ALERTMANAGER_PORT')}"]
    assert config["global"] == {"scrape_interval": "5s", "evaluation_interval": "1s"}
    result = promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout, result.stdout


def test_local_prometheus_evaluates_every_rule(local_project: Project, tmp_path: Path) -> None:
    """A real Prometheus on the local configuration: every rule loads and evaluates without error,
    and ModelServerDown is pending for the model server nobody started."""
    binary = require_prometheus_tool("prometheus")
    config = write_local_config(local_project, tmp_path / "prometheus.yml", scrape_interval="1s")
    port = local_project.port("PROMETHEUS_PORT")
    url = f"http://127.0.0.1:{port}"
    with prometheus_process(binary, config, tmp_path / "data", port, tmp_path / "prometheus.log",
                            cwd=local_project.root).spawn() as prometheus:
        prometheus.wait_until(lambda: is_ready(port), 60, "Prometheus")
        deadline = time.monotonic() + 30
        while True:
            groups = requests.get(f"{url}/api/v1/rules", timeout=5).json()["data"]["groups"]
            loaded = [rule for group in groups for rule in group["rules"]]
            alerts = requests.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            # Never evaluated: Go's zero time, 0001-01-01T00:00:00Z.
            evaluated = loaded and not any(rule["lastEvaluation"].startswith("0001") for rule in loaded)
            if (evaluated and alerts) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert {rule["name"] for rule in loaded} == ALERTS | RECORDED
    assert len(loaded) == len(rules("alert")) + len(rules("record"))
    broken = {rule["name"]: rule.get("lastError") for rule in loaded if rule["health"] != "ok"}
    assert not broken, broken
    down = [a for a in alerts if a["labels"]["alertname"] == "ModelServerDown"]
    assert [a["labels"]["instance"] for a in down] == [f"127.0.0.1:{local_project.port('REST_PORT')}"], alerts
    assert down[0]["state"] == "pending"
