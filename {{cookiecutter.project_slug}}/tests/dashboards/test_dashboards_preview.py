"""The dashboard preview: Grafana's variables, legends and windows; a clear stop without Prometheus;
on a real (empty) Prometheus, a failed query or an empty window marks its panel and the others are
drawn. tests/dashboards/test_dashboards_prometheus.py draws them after a real load run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from embedded_tfserving.process import free_port

from {{ cookiecutter.package_name }}.dashboards.definitions import DASHBOARDS
from {{ cookiecutter.package_name }}.dashboards.evaluate import Window, last_run_window, legend_text, parse_duration, substitute
from {{ cookiecutter.package_name }}.dashboards.panels import Dashboard, Panel, Query
from {{ cookiecutter.package_name }}.dashboards.preview import render, report_previews
from {{ cookiecutter.package_name }}.errors import DashboardError
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

from ..helpers import empty_prometheus


def test_variables_are_filled_as_grafana_fills_them() -> None:
    short = Window(1000, 1300, scrape=5)  # 300 s: one point per scrape
    assert substitute("rate(x{m=\"$model\"}[$__rate_interval]) $__interval $__range", "ctr", short) == \
        'rate(x{m="ctr"}[20s]) 5s 300s'
    day = Window(0, 86400, scrape=5)  # a point every 360 s: rate over step + scrape
    assert substitute("rate(x[$__rate_interval])", "ctr", day) == "rate(x[365s])"


def test_legends_follow_grafana() -> None:
    labels = {"__name__": "up", "status": "OK", "entrypoint": "REST"}
    assert legend_text("{" * 2 + "entrypoint" + "}" * 2 + " p95", labels, "q") == "REST p95"
    assert legend_text("__auto", labels, "q") == '{entrypoint="REST", status="OK"}'
    assert legend_text("__auto", {}, "sum(x)") == "sum(x)"


def test_durations_and_bad_ones() -> None:
    assert parse_duration("1m30s") == 90 and parse_duration("500ms") == 0.5 and parse_duration("15s") == 15
    with pytest.raises(DashboardError, match="not a Prometheus duration"):
        parse_duration("15 seconds")


def test_the_window_is_the_newest_run(tmp_path: Path) -> None:
    assert last_run_window(tmp_path / "none") is None
    for name in ("20260101-100000-steady", "20260101-110000-swap", "notes"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text("{}")
    start, end, folder = last_run_window(tmp_path) or (0.0, 0.0, tmp_path)
    assert folder.name == "20260101-110000-swap"
    assert start == time.mktime((2026, 1, 1, 11, 0, 0, 0, 0, -1)) and end > start


def test_no_prometheus_stops_before_writing(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DashboardError, match=f"no Prometheus answers at {url}.*make serve"):
        render(url, "ctr", time.time() - 60, time.time(), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    images, note = report_previews(tmp_path / "20260101-100000-steady", url, "ctr", time.time())
    assert images == [] and note.startswith(f"no dashboard preview: no Prometheus answers at {url}")
    run = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "dashboards", "preview", "--prometheus", url,
                          "--out", str(tmp_path / "cli")], cwd=PROJECT_ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert run.returncode == 1 and f"Error: no Prometheus answers at {url}" in run.stderr
    assert not (tmp_path / "cli").exists()


def test_a_failed_query_or_an_empty_window_marks_its_panel_only(tmp_path: Path) -> None:
    with empty_prometheus(tmp_path, scrape_seconds=2) as url:
        mixed = Dashboard("mixed", "Mixed", "A broken query next to working ones.", panels=(
            Panel("Broken", "A query Prometheus rejects.", (Query("sum(rate(x[$__rate_interval])"),)),
            Panel("Constant", "A query with data everywhere.", (Query("vector(3)", "three"),), unit="reqps"),
            Panel("Stat", "One value.", (Query("vector(0.25)", "share"),), unit="percentunit", kind="stat"),
        ))
        now = time.time()
        [preview] = render(url, "ctr", now - 120, now, tmp_path / "mixed", {"mixed.json": mixed})
        broken, constant, single = preview.panels
        assert broken.note.startswith("query error: ") and "parse error" in broken.note
        assert constant.has_data and constant.series[0].label == "three" and not constant.note
        assert single.has_data
        assert Image.open(preview.path).size[0] > 1000  # one PNG with the three panels
        # Nothing scraped yet: every real dashboard draws, each panel saying why it is empty.
        previews = render(url, "ctr", now - 600, now, tmp_path / "empty")
    assert sorted(p.path.name for p in previews) == sorted(n.replace(".json", ".png") for n in DASHBOARDS)
    notes = {d.panel.title: d.note for p in previews for d in p.panels if not d.has_data}
    assert notes["GPU utilisation"].startswith("no data: no GPU here")
    assert notes["Simulated users"].startswith("no data: Prometheus did not scrape the load generator's exporter")
    assert notes["Batches per second"] == "no data: no batch ran in this window (batching off, or no traffic)"
    assert all(p.path.is_file() for p in previews)
