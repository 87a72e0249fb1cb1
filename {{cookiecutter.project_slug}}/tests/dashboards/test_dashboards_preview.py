"""The dashboard preview of this project's dashboards: a clear stop without Prometheus; on a real
(empty) Prometheus, a failed query or an empty window marks its panel and the others are
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
from tfserving_loadtest.dashboards.panels import Dashboard, Panel, Query
from tfserving_loadtest.dashboards.preview import render, report_previews
from tfserving_loadtest.errors import DashboardError

from {{ cookiecutter.package_name }}.dashboards.definitions import DASHBOARDS
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

from ..helpers import empty_prometheus


def test_no_prometheus_stops_before_writing(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DashboardError, match=f"no Prometheus answers at {url}.*point --prometheus at yours"):
        render(url, "ctr", time.time() - 60, time.time(), tmp_path / "out", DASHBOARDS)
    assert not (tmp_path / "out").exists()
    images, note = report_previews(tmp_path / "20260101-100000-steady", url, "ctr", time.time(), DASHBOARDS)
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
        previews = render(url, "ctr", now - 600, now, tmp_path / "empty", DASHBOARDS)
    assert sorted(p.path.name for p in previews) == sorted(n.replace(".json", ".png") for n in DASHBOARDS)
    notes = {d.panel.title: d.note for p in previews for d in p.panels if not d.has_data}
    assert notes["GPU utilisation"].startswith("no data: no GPU here")
    assert notes["Simulated users"].startswith("no data: Prometheus did not scrape the load generator's exporter")
    assert notes["Batches per second"] == "no data: no batch ran in this window (batching off, or no traffic)"
    assert all(p.path.is_file() for p in previews)
