"""Dashboards you can see without Grafana: each dashboard drawn with matplotlib as one PNG, its
panels on Grafana's 24-column grid, from the data its queries return on Prometheus (evaluate.py).

A preview, not Grafana: time series, stat values and heatmaps with each panel's legend, unit and
thresholds, and the dashboard's Prometheus annotations (alerts firing, versions loaded) as bands
behind the graphs; no tooltips, no Grafana-stored annotations (the swap marks), no variables to
change.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

from ..errors import DashboardError
from ..prometheus import Prometheus
from ..run_dirs import run_started
from .evaluate import Marks, PanelData, Series, Window, evaluate, evaluate_marks
from .panels import Dashboard, Panel

ROW_INCHES = 0.42  # one Grafana grid row (30 px)
WIDTH_INCHES = 20.0
MAX_LEGEND = 6


@dataclass(frozen=True)
class Unit:
    scale: float
    suffix: str


# Grafana unit ids -> how the preview prints them (the units these dashboards use).
UNITS: dict[str, Unit] = {
    "percentunit": Unit(100, "%"), "percent": Unit(1, "%"), "reqps": Unit(1, " req/s"), "ops": Unit(1, " ops/s"),
    "µs": Unit(0.001, " ms"), "s": Unit(1000, " ms"), "decmbytes": Unit(1, " MB"), "short": Unit(1, ""),
}


def unit_of(panel: Panel) -> Unit:
    return UNITS.get(panel.unit, Unit(1, f" {panel.unit}"))


def format_value(value: float, unit: Unit) -> str:
    if math.isnan(value):
        return "NaN"
    scaled = value * unit.scale
    text = f"{scaled:.3g}" if abs(scaled) < 1000 else f"{scaled:,.0f}"
    return text + unit.suffix


def threshold_colour(panel: Panel, value: float) -> str:
    """The colour of the last threshold step at or below `value` (Grafana's rule)."""
    colour = "tab:green"
    for start, step_colour in panel.thresholds:
        if start is None or value >= start:
            colour = step_colour
    return colour


@dataclass(frozen=True)
class Preview:
    dashboard: str
    path: Path
    panels: list[PanelData]
    marks: list[Marks]

    @property
    def empty(self) -> list[PanelData]:
        return [p for p in self.panels if not p.has_data]


def _draw_marks(axis: Axes, marks: Sequence[Marks], step: float) -> None:
    """Annotation regions behind a time series (Grafana draws them on every panel)."""
    for mark in marks:
        for start, end in mark.regions:
            first, last = _dates([start - step / 2, end + step / 2])
            axis.axvspan(first, last, color=mark.annotation.color, alpha=0.15, linewidth=0)


def _draw_timeseries(axis: Axes, data: PanelData) -> None:
    unit = unit_of(data.panel)
    for series in data.series[:20]:
        axis.plot(_dates(series.times), [v * unit.scale for v in series.values], label=series.label, linewidth=1.2)
    for start, colour in data.panel.thresholds:
        if start is not None:
            axis.axhline(start * unit.scale, color=colour, linestyle="--", linewidth=1)
    bottom = data.panel.min * unit.scale if data.panel.min is not None else None
    top = data.panel.max * unit.scale if data.panel.max is not None else None
    axis.set_ylim(bottom=bottom, top=top)
    _time_axis(axis)
    axis.tick_params(axis="y", labelsize=7)
    if unit.suffix:
        axis.set_ylabel(unit.suffix.strip(), fontsize=7)
    axis.grid(alpha=0.3)
    labelled = data.series[:MAX_LEGEND]
    if labelled:
        axis.legend(fontsize=6, loc="upper left", ncol=2 if len(labelled) > 3 else 1, framealpha=0.6)


def _time_axis(axis: Axes) -> None:
    """An x axis of clock times (the data are matplotlib date numbers, see _dates)."""
    axis.xaxis_date()
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    axis.tick_params(axis="x", labelsize=7)


def _dates(times: Sequence[float]) -> list[float]:
    """Unix seconds as matplotlib's date numbers (local time, as Grafana shows by default)."""
    return [float(mdates.date2num(datetime.fromtimestamp(t))) for t in times]


def _last(series: Series) -> float:
    return next((v for v in reversed(series.values) if not math.isnan(v)), math.nan)


def _draw_stat(axis: Axes, data: PanelData) -> None:
    unit = unit_of(data.panel)
    shown = data.series[:4]
    axis.set_axis_off()
    for index, series in enumerate(shown):
        value = _last(series)
        y = 1 - (index + 0.5) / len(shown)
        colour = threshold_colour(data.panel, value) if data.panel.thresholds else "tab:green"
        axis.text(0.5, y, format_value(value, unit), ha="center", va="center", fontsize=20 if len(shown) == 1 else 14,
                  color=colour, fontweight="bold", transform=axis.transAxes)
        if len(shown) > 1 or series.label:
            axis.text(0.5, y - 0.5 / len(shown) + 0.04, series.label, ha="center", va="bottom", fontsize=7,
                      color="dimgray", transform=axis.transAxes)


def _bucket_bound(series: Series) -> float:
    return float(series.labels.get("le", "inf").replace("+Inf", "inf"))


def _draw_heatmap(axis: Axes, data: PanelData, step: float) -> None:
    """Prometheus histogram buckets (cumulative counts per `le`) as counts per bucket over time,
    each column one step wide around its sample."""
    buckets = sorted((s for s in data.series if "le" in s.labels), key=_bucket_bound)
    times = sorted({t for s in buckets for t in s.times})
    by_time = [dict(zip(s.times, s.values)) for s in buckets]
    cumulative = [[values.get(t, 0.0) for t in times] for values in by_time]
    counts = [[max(0.0, row[i] - (cumulative[b - 1][i] if b else 0.0)) for i in range(len(times))]
              for b, row in enumerate(cumulative)]
    first, last = _dates([times[0] - step / 2, times[-1] + step / 2])
    axis.imshow(counts, aspect="auto", origin="lower", cmap="Oranges", interpolation="nearest",
                extent=(first, last, 0, len(buckets)))
    axis.set_yticks([b + 0.5 for b in range(len(buckets))],
                    [re.sub(r"\.0$", "", s.labels["le"]) for s in buckets], fontsize=6)
    axis.set_ylabel("bucket (le)", fontsize=7)
    _time_axis(axis)


def draw_panel(axis: Axes, data: PanelData, marks: Sequence[Marks], step: float) -> None:
    axis.set_title(data.panel.title, fontsize=9, loc="left")
    if not data.has_data:
        axis.set_axis_off()
        axis.text(0.5, 0.5, data.note or "no data", ha="center", va="center", fontsize=8, color="dimgray",
                  wrap=True, transform=axis.transAxes)
        return
    if data.panel.kind == "stat":
        _draw_stat(axis, data)
    elif data.panel.kind == "heatmap":
        _draw_heatmap(axis, data, step)
    else:
        _draw_timeseries(axis, data)
        _draw_marks(axis, marks, step)


def draw(dashboard: Dashboard, panels: Sequence[PanelData], window: Window, path: Path,
         marks: Sequence[Marks] = ()) -> Path:
    """One PNG, the panels where Grafana's grid puts them, annotation regions behind the graphs."""
    rows = max((p.y + p.panel.height for p in panels), default=1)
    header = 2.2  # grid rows of title
    figure = plt.figure(figsize=(WIDTH_INCHES, (rows + header) * ROW_INCHES))
    total = rows + header
    figure.suptitle(dashboard.title, x=0.01, y=1 - 0.35 / total, ha="left", fontsize=14, fontweight="bold")
    legend = "".join(f"   {m.annotation.color} bands: {m.annotation.name}" for m in marks)
    figure.text(0.01, 1 - 1.35 / total,
                f"{window.describe()}   Preview of the Grafana dashboard '{dashboard.uid}', drawn from Prometheus "
                f"with matplotlib (no Grafana here); every panel runs the dashboard's own queries.{legend}",
                fontsize=8, color="dimgray")
    for data in panels:
        left = data.x / 24 + 0.035
        width = data.panel.width / 24 - 0.05
        top = 1 - (data.y + header) / total
        height = data.panel.height / total
        axis = figure.add_axes((left, top - height + 0.9 / total, width, height - 1.7 / total))
        draw_panel(axis, data, marks, window.step)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def render(prometheus_url: str, model: str, start: float, end: float, out_dir: Path,
           dashboards: Mapping[str, Dashboard]) -> list[Preview]:
    """Every dashboard evaluated over [start, end] and drawn into out_dir/<name>.png. Fails (before
    writing anything) only when no Prometheus answers; a failed query marks its panel."""
    prometheus = Prometheus(prometheus_url)
    window = Window(start, end, prometheus.scrape_interval())
    previews = []
    for file_name, dashboard in dashboards.items():
        panels = evaluate(dashboard, prometheus, model, window)
        marks = evaluate_marks(dashboard, prometheus, model, window)
        path = draw(dashboard, panels, window, out_dir / file_name.replace(".json", ".png"), marks)
        previews.append(Preview(file_name, path, panels, marks))
    return previews


def report_previews(run_dir: Path, prometheus_url: str, model: str, now: float,
                    dashboards: Mapping[str, Dashboard]) -> tuple[list[Path], str]:
    """The dashboards over one load-test run (from the start in its folder's name to now), for its
    report: PNGs under run_dir/dashboards, and a line saying what they show or why there are none."""
    start = run_started(run_dir)
    if start is None:
        return [], "no dashboard preview: the run's folder name does not say when it started"
    try:
        previews = render(prometheus_url, model, start, max(now, start + 1), run_dir / "dashboards", dashboards)
    except DashboardError as error:
        return [], f"no dashboard preview: {error}"
    empty = [f"{p.dashboard} / {d.panel.title} ({d.note})" for p in previews for d in p.empty]
    note = f"Previews of the Grafana dashboards over this run, from {prometheus_url} (matplotlib)."
    return [p.path for p in previews], note + (" Panels without data: " + "; ".join(empty) + "." if empty else "")
