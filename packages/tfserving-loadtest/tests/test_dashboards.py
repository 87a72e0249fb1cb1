"""The dashboards' evaluation as Grafana does it: its variables, legends and durations, and the window
of the newest load-test run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tfserving_loadtest.dashboards.evaluate import Window, last_run_window, legend_text, substitute
from tfserving_loadtest.errors import DashboardError
from tfserving_loadtest.prometheus import parse_duration


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
