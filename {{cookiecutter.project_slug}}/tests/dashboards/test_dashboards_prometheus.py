"""Every panel query of every dashboard, evaluated by a real Prometheus scraping the embedded
server under real REST and gRPC traffic, after Grafana-style variable substitution."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import pytest
import requests

from {{ cookiecutter.package_name }}.dashboards.definitions import DASHBOARDS
from {{ cookiecutter.package_name }}.stack import embedded
from {{ cookiecutter.package_name }}.stack.project import Project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stack"))
from stack_helpers import require_prometheus_tool, scratch_project  # noqa: E402
from traffic import ClientMetrics, Traffic  # noqa: E402

pytestmark = pytest.mark.slow

SCRAPE_SECONDS = 1


def grafana_substitute(expr: str, model: str) -> str:
    """What Grafana sends: $__rate_interval = max($__interval + scrape, 4 * scrape) with the
    smallest $__interval (one scrape interval)."""
    rate_interval = max(2 * SCRAPE_SECONDS, 4 * SCRAPE_SECONDS)
    return (expr.replace("$__rate_interval", f"{rate_interval}s").replace("$__interval", f"{SCRAPE_SECONDS}s")
            .replace("$__range", "5m").replace("$model", model))


def query(prometheus: str, expr: str) -> list[dict]:
    reply = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = reply.json()
    assert reply.ok and body["status"] == "success", f"Prometheus rejected {expr!r}: {body.get('error')}"
    return body["data"]["result"]


def has_data(result: list[dict]) -> bool:
    return any(not math.isnan(float(series["value"][1])) for series in result)


@pytest.fixture
def stack(tmp_path: Path, published_model, monkeypatch: pytest.MonkeyPatch):
    require_prometheus_tool("prometheus")
    for key in ("REST_PORT", "GRPC_PORT", "PROMETHEUS_PORT", "LOADTEST_METRICS_PORT", "MODEL_NAME", "MODELS_DIR"):
        monkeypatch.delenv(key, raising=False)
    root = scratch_project(tmp_path / "project", Path(published_model.models_dir), MODEL_NAME=published_model.name)
    project = Project.load(root)
    metrics = ClientMetrics(project.port("LOADTEST_METRICS_PORT"))
    try:
        urls = embedded.start(project, timeout=180, scrape_interval=f"{SCRAPE_SECONDS}s")
        yield project, urls, metrics
    finally:
        embedded.stop(project)
        metrics.close()


def test_every_panel_query_returns_data(stack) -> None:
    project, urls, metrics = stack
    model = project.model_name
    checked, failures = [], []
    with Traffic(urls.rest, urls.grpc, model, metrics):
        # Wait (bounded) until Prometheus has scraped traffic twice, so rate() has two samples.
        deadline = time.monotonic() + 30
        traffic_seen = grafana_substitute(DASHBOARDS["serving-overview.json"].panels[0].queries[0].expr, model)
        while not has_data(query(urls.prometheus, traffic_seen)):
            assert time.monotonic() < deadline, "Prometheus saw no traffic from the embedded server in 30s"
            time.sleep(0.5)
        for file_name, dashboard in DASHBOARDS.items():
            for panel in dashboard.panels:
                for q in panel.queries:
                    expr = grafana_substitute(q.expr, model)
                    result = query(urls.prometheus, expr)
                    if not q.needs_gpu:
                        # Some series appear one scrape later (e.g. runtime histograms): retry briefly.
                        retry_until = time.monotonic() + 5
                        while not has_data(result) and time.monotonic() < retry_until:
                            time.sleep(0.5)
                            result = query(urls.prometheus, expr)
                        if not has_data(result):
                            failures.append(f"{file_name} / {panel.title}: no data for {expr}")
                    checked.append(f"{file_name} / {panel.title}: {expr} -> {len(result)} series"
                                   + (" (parse only: needs a GPU)" if q.needs_gpu else ""))
            for name, expr in dashboard.annotations:
                query(urls.prometheus, grafana_substitute(expr, model))  # annotations: accepted
                checked.append(f"{file_name} / annotation {name}: accepted")
    print("\n".join(["verified against Prometheus:", *checked]))
    assert not failures, "\n".join(failures)
