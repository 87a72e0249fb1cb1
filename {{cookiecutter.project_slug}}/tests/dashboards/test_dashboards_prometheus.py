"""Every panel and annotation query of every dashboard, evaluated by a real Prometheus scraping the
embedded server and the load generator's own exporter while Locust sends REST and gRPC traffic,
after Grafana-style variable substitution; then the dashboards drawn over that run (the preview).
Prometheus evaluates the project's recording rules and alerts (compose/rules/), which the SLO
panels read; a corrupt version and then a good one are published under load, so that the "Alerts
firing" and "Version loaded" marks have something to show."""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from tfserving_loadtest.dashboards.preview import render
from tfserving_stack import embedded
from tfserving_stack.project import Project

from {{ cookiecutter.package_name }}.dashboards.definitions import DASHBOARDS
from {{ cookiecutter.package_name }}.export.publish import publish_version
from {{ cookiecutter.package_name }}.loadtest import locust_run  # the toolkit's, configured for this project

from ..helpers import (
    PORT_SETTINGS,
    SCRAPE_SECONDS,
    grafana_substitute,
    prometheus_query,
    require_prometheus_tool,
    scratch_project,
)

pytestmark = pytest.mark.slow


def has_data(result: list[dict]) -> bool:
    return any(not math.isnan(float(series["value"][1])) for series in result)


@pytest.fixture
def stack(tmp_path: Path, published_model, monkeypatch: pytest.MonkeyPatch):
    require_prometheus_tool("prometheus")
    # The scratch project's free ports, not those of a sourced .env (which a running stack holds).
    for key in (*PORT_SETTINGS, "MODEL_NAME", "MODELS_DIR"):
        monkeypatch.delenv(key, raising=False)
    # A copy of the model, as the test publishes into it.
    models = tmp_path / "models"
    shutil.copytree(published_model.base_path / str(published_model.version), models / published_model.name / "1")
    root = scratch_project(tmp_path / "project", models, MODEL_NAME=published_model.name)
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
                                model_name=project.model_name, protocol="both", users=2, seconds=240,
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


def publish_corrupt_then_good(project: Project) -> None:
    """Version 2 with a garbage graph (it fails to load: ModelVersionLoadFailed fires), then version
    3, a good one (a load the lifecycle marks show); the server keeps serving throughout."""
    base = project.models_dir / project.model_name
    staging = base / ".corrupt-2"
    shutil.copytree(base / "1", staging)
    (staging / "saved_model.pb").write_bytes(b"not a SavedModel")
    os.rename(staging, base / "2")
    assert publish_version(base / "1", project.models_dir, project.model_name) == 3


def test_every_panel_query_returns_data(locust_traffic, tmp_path: Path) -> None:
    started = time.time()
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
    publish_corrupt_then_good(project)
    # Some series come later: runtime histograms a scrape after the first, the recording rules'
    # an evaluation after theirs, the SLO period's one-minute subquery steps up to a minute after
    # that. A query without data is retried until one deadline shared by all, so a broken query
    # costs that wait once, not once per query.
    retry_until = time.monotonic() + 80

    def query_with_retries(expr: str) -> list[dict]:
        result = prometheus_query(urls.prometheus, expr)
        while not has_data(result) and time.monotonic() < retry_until:
            time.sleep(0.5)
            result = prometheus_query(urls.prometheus, expr)
        return result

    for file_name, dashboard in DASHBOARDS.items():
        for panel in dashboard.panels:
            for q in panel.queries:
                expr = grafana_substitute(q.expr, model)
                if q.needs_gpu:
                    result = prometheus_query(urls.prometheus, expr)
                else:
                    result = query_with_retries(expr)
                    if not has_data(result):
                        failures.append(f"{file_name} / {panel.title}: no data for {expr}")
                checked.append(f"{file_name} / {panel.title}: {expr} -> {len(result)} series"
                               + (" (parse only: needs a GPU)" if q.needs_gpu else ""))
        for annotation in dashboard.annotations:
            expr = grafana_substitute(annotation.expr, model)
            result = query_with_retries(expr)
            if not has_data(result):
                failures.append(f"{file_name} / annotation {annotation.name}: no data for {expr}")
            checked.append(f"{file_name} / annotation {annotation.name}: {expr} -> "
                           + ", ".join(str(series["metric"]) for series in result))
    print("\n".join(["verified against Prometheus:", *checked]))
    assert not failures, "\n".join(failures)
    # The preview over the same run: every panel drew data but the GPU ones, which say why.
    previews = render(urls.prometheus, model, started, time.time(), tmp_path / "preview", DASHBOARDS)
    empty = [(f"{p.dashboard} / {d.panel.title}: {d.note}", d) for p in previews for d in p.empty]
    print("\n".join(["preview panels without data:", *(text for text, _ in empty)]))
    assert all(any(q.needs_gpu for q in d.panel.queries) and d.note.startswith("no data: no GPU here")
               for _, d in empty), "\n".join(text for text, _ in empty)
    assert all(p.path.is_file() for p in previews)
    lifecycle = next(p for p in previews if p.dashboard == "model-lifecycle.json")
    assert {m.annotation.name for m in lifecycle.marks} == {"Version loaded", "Alerts firing"}, lifecycle.marks
