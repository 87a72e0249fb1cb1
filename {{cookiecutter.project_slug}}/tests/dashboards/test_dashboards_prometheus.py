"""Every panel query of every dashboard, evaluated by a real Prometheus scraping the embedded server
and the load generator's own exporter while Locust sends REST and gRPC traffic, after Grafana-style
variable substitution."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.dashboards.definitions import DASHBOARDS
from {{ cookiecutter.package_name }}.loadtest import locust_run
from {{ cookiecutter.package_name }}.stack import embedded
from {{ cookiecutter.package_name }}.stack.project import Project

from ..helpers import SCRAPE_SECONDS, grafana_substitute, prometheus_query, require_prometheus_tool, scratch_project

pytestmark = pytest.mark.slow


def has_data(result: list[dict]) -> bool:
    return any(not math.isnan(float(series["value"][1])) for series in result)


@pytest.fixture
def stack(tmp_path: Path, published_model, monkeypatch: pytest.MonkeyPatch):
    require_prometheus_tool("prometheus")
    for key in ("REST_PORT", "GRPC_PORT", "PROMETHEUS_PORT", "LOADTEST_METRICS_PORT", "MODEL_NAME", "MODELS_DIR"):
        monkeypatch.delenv(key, raising=False)
    root = scratch_project(tmp_path / "project", Path(published_model.models_dir), MODEL_NAME=published_model.name)
    project = Project.load(root)
    try:
        urls = embedded.start(project, timeout=180, scrape_interval=f"{SCRAPE_SECONDS}s")
        yield project, urls
    finally:
        embedded.stop(project)


@pytest.fixture
def locust_traffic(stack, tmp_path: Path):
    """Locust (one REST and one gRPC user) against the stack, its exporter on LOADTEST_METRICS_PORT,
    which the local Prometheus scrapes; stopped when the test is done."""
    project, urls = stack
    done = threading.Event()
    spec = locust_run.LocustRun(label="dashboards", out_dir=tmp_path / "locust", host=urls.rest,
                                model_name=project.model_name, protocol="both", users=2, seconds=150,
                                grpc_target=urls.grpc, metrics_port=project.port("LOADTEST_METRICS_PORT"))
    results: list[locust_run.LocustResult] = []
    thread = threading.Thread(target=lambda: results.append(locust_run.run(spec, progress=lambda _: None,
                                                                           stop_when=done.is_set)))
    thread.start()
    try:
        yield project, urls
    finally:
        done.set()
        thread.join(120)
    failures_csv = tmp_path / "locust" / "dashboards_failures.csv"
    assert results and results[0].requests > 0 and results[0].failures == 0, \
        (results, failures_csv.read_text() if failures_csv.is_file() else "no failures file")


def test_every_panel_query_returns_data(locust_traffic) -> None:
    project, urls = locust_traffic
    model = project.model_name
    checked, failures = [], []
    # Wait (bounded) until Prometheus has scraped traffic from the server and from the load
    # generator twice, so rate() has two samples of each.
    deadline = time.monotonic() + 90
    first_queries = [grafana_substitute(DASHBOARDS["serving-overview.json"].panels[0].queries[0].expr, model),
                     grafana_substitute(DASHBOARDS["loadtest.json"].panels[2].queries[0].expr, model)]
    while not all(has_data(prometheus_query(urls.prometheus, expr)) for expr in first_queries):
        assert time.monotonic() < deadline, "Prometheus saw no traffic from the server and Locust in 90s"
        time.sleep(0.5)
    for file_name, dashboard in DASHBOARDS.items():
        for panel in dashboard.panels:
            for q in panel.queries:
                expr = grafana_substitute(q.expr, model)
                result = prometheus_query(urls.prometheus, expr)
                if not q.needs_gpu:
                    # Some series appear one scrape later (e.g. runtime histograms): retry briefly.
                    retry_until = time.monotonic() + 5
                    while not has_data(result) and time.monotonic() < retry_until:
                        time.sleep(0.5)
                        result = prometheus_query(urls.prometheus, expr)
                    if not has_data(result):
                        failures.append(f"{file_name} / {panel.title}: no data for {expr}")
                checked.append(f"{file_name} / {panel.title}: {expr} -> {len(result)} series"
                               + (" (parse only: needs a GPU)" if q.needs_gpu else ""))
        for name, expr in dashboard.annotations:
            prometheus_query(urls.prometheus, grafana_substitute(expr, model))  # annotations: accepted
            checked.append(f"{file_name} / annotation {name}: accepted")
    print("\n".join(["verified against Prometheus:", *checked]))
    assert not failures, "\n".join(failures)
