"""Each panel's queries evaluated on Prometheus as Grafana would send them, over a time window.

Grafana's variables are filled the way Grafana fills them: $model, $__interval (the step between
points, at least one scrape interval), $__rate_interval (max($__interval + scrape, 4 * scrape)) and
$__range (the window). Range queries go to /api/v1/query_range, instant ones (the 30-day SLO
budget) to /api/v1/query at the window's end. A query Prometheus rejects, or a panel with no
series, gets a note saying why instead of a graph; the other panels are evaluated all the same.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..prometheus import Prometheus, QueryError
from ..run_dirs import run_started
from .panels import Annotation, Dashboard, Panel, Query

# Points per graph: Grafana asks for about one per pixel column; a preview needs far fewer.
MAX_POINTS = 240
GPU_NOTE = "no GPU here: DCGM's metrics exist only where the compose gpu profile runs"


@dataclass(frozen=True)
class Window:
    """A time range in Unix seconds, and the scrape interval of the Prometheus that saw it."""

    start: float
    end: float
    scrape: float = 15.0

    @property
    def step(self) -> float:
        return max(self.scrape, math.ceil((self.end - self.start) / MAX_POINTS))

    def describe(self) -> str:
        clock = lambda t: time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
        return f"{clock(self.start)} to {clock(self.end)[11:]} ({self.end - self.start:.0f} s)"


def substitute(expr: str, model: str, window: Window) -> str:
    """The query Grafana sends for `expr` on this window."""
    interval = window.step
    rate_interval = max(interval + window.scrape, 4 * window.scrape)
    return (expr.replace("$__rate_interval", f"{rate_interval:.0f}s").replace("$__interval", f"{interval:.0f}s")
            .replace("$__range", f"{max(1.0, window.end - window.start):.0f}s").replace("$model", model))


@dataclass
class Series:
    label: str
    labels: dict[str, str]
    times: list[float]
    values: list[float]


@dataclass
class PanelData:
    panel: Panel
    x: int
    y: int
    series: list[Series] = field(default_factory=list)
    note: str = ""  # why nothing is drawn (no data and its reason, or the query error)

    @property
    def has_data(self) -> bool:
        return any(not math.isnan(v) for s in self.series for v in s.values)


def legend_text(template: str, labels: dict[str, str], expr: str) -> str:
    """Grafana's legend: each label name in double braces replaced by the series' label; "__auto"
    shows the labels (or the query, for a series without any)."""
    if template in ("", "__auto"):
        shown = {k: v for k, v in labels.items() if k != "__name__"}
        return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}" if shown else expr
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def _series(query: Query, expr: str, result: list[dict[str, Any]]) -> list[Series]:
    found = []
    for item in result:
        labels = dict(item.get("metric", {}))
        points = item.get("values") or ([item["value"]] if "value" in item else [])
        found.append(Series(legend_text(query.legend, labels, expr), labels,
                            [float(t) for t, _ in points], [float(v) for _, v in points]))
    return found


def evaluate_panel(panel: Panel, x: int, y: int, prometheus: Prometheus, model: str, window: Window) -> PanelData:
    data = PanelData(panel, x, y)
    errors = []
    for query in panel.queries:
        expr = substitute(query.expr, model, window)
        try:
            result = prometheus.query(expr, window.end) if query.instant else prometheus.query_range(expr, window)
        except QueryError as error:
            errors.append(f"query error: {error}")
            continue
        data.series += _series(query, expr, result)
    if errors:
        data.note = "; ".join(errors)
    elif not data.has_data:
        data.note = "no data: " + (GPU_NOTE if any(q.needs_gpu for q in panel.queries) else panel.no_data)
    return data


def evaluate(dashboard: Dashboard, prometheus: Prometheus, model: str, window: Window) -> list[PanelData]:
    return [evaluate_panel(panel, x, y, prometheus, model, window) for panel, x, y in dashboard.layout()]


def last_run_window(reports_dir: Path, now: float | None = None) -> tuple[float, float, Path] | None:
    """(start, end, folder) of the newest load-test run under reports_dir: it starts at the time in
    its folder's name (reports/<YYYYmmdd-HHMMSS>-<scenario>) and ends when its last file was written."""
    now = time.time() if now is None else now
    runs = []
    for folder in reports_dir.glob("*-*") if reports_dir.is_dir() else []:
        start = run_started(folder)
        if folder.is_dir() and start is not None:
            written = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()]
            runs.append((start, max(written, default=start), folder))
    if not runs:
        return None
    start, end, folder = max(runs)
    return start, min(max(end, start + 60), now), folder


@dataclass(frozen=True)
class Marks:
    """Where an annotation query had a series: (start, end) regions in Unix seconds."""

    annotation: Annotation
    regions: list[tuple[float, float]]


def evaluate_marks(dashboard: Dashboard, prometheus: Prometheus, model: str, window: Window) -> list[Marks]:
    """The dashboard's Prometheus annotations as regions (a failed one is left out: marks are extras)."""
    found = []
    for annotation in dashboard.annotations:
        try:
            result = prometheus.query_range(substitute(annotation.expr, model, window), window)
        except QueryError:
            continue
        times = sorted({float(t) for item in result for t, _ in item.get("values", [])})
        regions: list[tuple[float, float]] = []
        for t in times:  # consecutive steps join one region
            if regions and t - regions[-1][1] <= 1.5 * window.step:
                regions[-1] = (regions[-1][0], t)
            else:
                regions.append((t, t))
        if regions:
            found.append(Marks(annotation, regions))
    return found
