"""The generated dashboards are current and well formed; push/annotate fail or no-op clearly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from embedded_tfserving.process import free_port

from {{ cookiecutter.package_name }}.dashboards import grafana
from {{ cookiecutter.package_name }}.dashboards.definitions import (
    ALERTS,
    DASHBOARDS,
    FAST_BURN,
    FAST_WINDOWS,
    LATENCY_BUDGET,
    SLO_PERIOD,
    SLOW_BURN,
)
from {{ cookiecutter.package_name }}.dashboards.render import render_all
from {{ cookiecutter.package_name }}.errors import DashboardError
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

from ..helpers import empty_prometheus, grafana_substitute


def test_generated_json_is_not_stale() -> None:
    for name, text in render_all().items():
        path = PROJECT_ROOT / "dashboards" / name
        assert path.is_file(), f"{path} missing: run `python -m {{ cookiecutter.package_name }} dashboards build`"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `dashboards build`"


def test_check_command_fails_on_a_stale_file(tmp_path: Path) -> None:
    run = lambda *args: subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "dashboards", *args, "--out", str(tmp_path)],
                                       cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert run("build").returncode == 0
    assert run("check").returncode == 0
    (tmp_path / "batching.json").write_text("{}")
    failed = run("check")
    assert failed.returncode != 0 and "batching.json" in failed.stderr


@pytest.mark.parametrize("name", sorted(render_all()))
def test_dashboard_is_well_formed(name: str) -> None:
    dashboard = json.loads(render_all()[name])
    assert dashboard["schemaVersion"] >= 39 and dashboard["uid"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    if "model" in variables:
        assert variables["model"]["query"]["query"] == "label_values(:tensorflow:serving:request_count, model_name)"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert len(panel["description"]) > 40, f"{panel['title']}: describe what it teaches"
        assert panel["targets"] and all(t["expr"] for t in panel["targets"])
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [{"value": None}])
        assert steps[0]["value"] is None, f"{panel['title']}: Grafana's first threshold step starts at -infinity"
        for target in panel["targets"]:
            # A range query over the SLO period would evaluate 30 days once per point of the graph.
            assert f"[{SLO_PERIOD}" not in target["expr"] or target.get("instant"), \
                f"{panel['title']}: make the {SLO_PERIOD} query instant"
    swaps = [a for a in dashboard["annotations"]["list"] if a["name"] == "Model swaps"]
    assert swaps and swaps[0]["target"]["tags"] == ["swap"]


def test_alerts_are_marked_where_they_help() -> None:
    """Every dashboard but the GPU one draws firing alerts: those of its model and those of none."""
    for name, dashboard in DASHBOARDS.items():
        assert (ALERTS in dashboard.annotations) == (name != "gpu.json"), name
    assert 'alertstate="firing"' in ALERTS.expr and 'model_name=~"$model|"' in ALERTS.expr


# The burn-rate alerts: (factor, windows) the SLO panels draw and colour them by.
BURN_ALERTS = {
    "ErrorBudgetBurnFast": (FAST_BURN, "model:error_ratio", {"5m", "1h"}),
    "ErrorBudgetBurnSlow": (SLOW_BURN, "model:error_ratio", {"30m", "6h"}),
    "LatencyBudgetBurnFast": (FAST_BURN, "model:slow_ratio", {"5m", "1h"}),
    "LatencyBudgetBurnSlow": (SLOW_BURN, "model:slow_ratio", {"30m", "6h"}),
}


def test_slo_panels_use_the_alerts_burn_rates() -> None:
    """The thresholds and windows of the SLO dashboard are those of compose/rules/alerts.yml."""
    rules = yaml.safe_load((PROJECT_ROOT / "compose" / "rules" / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}
    assert set(FAST_WINDOWS) == BURN_ALERTS["ErrorBudgetBurnFast"][2]
    for name, (factor, ratio, windows) in BURN_ALERTS.items():
        expr = alerts[name]
        assert {float(f) for f in re.findall(r"([0-9.]+) \*", expr)} == {factor}, f"{name}: {expr}"
        assert set(re.findall(ratio + r":rate(\w+)", expr)) == windows, f"{name}: {expr}"
        if ratio == "model:slow_ratio":
            assert f"* {LATENCY_BUDGET}" in expr, f"{name}: the latency budget is {LATENCY_BUDGET}: {expr}"
        else:
            assert "(1 - slo:availability:objective)" in expr, expr
    slo = json.loads(render_all()["slo.json"])
    colours = [[step["value"] for step in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
               for panel in slo["panels"] if "burn rate" in panel["title"]]
    assert colours and all(steps == [None, SLOW_BURN, FAST_BURN] for steps in colours)


def test_push_without_grafana_url_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_URL", raising=False)
    with pytest.raises(DashboardError, match="GRAFANA_URL is not set"):
        grafana.push({})


def test_push_to_an_unreachable_grafana_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nobody listens on it
    with pytest.raises(DashboardError, match=f"Grafana at http://127.0.0.1:{port} does not answer"):
        grafana.push({}, f"http://127.0.0.1:{port}")


def test_annotate_is_a_no_op_without_grafana(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_URL", raising=False)
    assert grafana.annotate("swap to version 2", ["swap"]) is False


def test_every_query_is_accepted_by_prometheus(tmp_path: Path) -> None:
    """PromQL syntax of every panel and annotation, checked by a real (empty) Prometheus."""
    import requests

    with empty_prometheus(tmp_path) as url:
        exprs = [q.expr for d in DASHBOARDS.values() for p in d.panels for q in p.queries]
        exprs += [a.expr for d in DASHBOARDS.values() for a in d.annotations]
        for expr in exprs:
            body = requests.get(f"{url}/api/v1/query", params={"query": grafana_substitute(expr, "ctr")}, timeout=5).json()
            assert body["status"] == "success", f"{expr}: {body.get('error')}"
