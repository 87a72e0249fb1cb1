"""Small building blocks for Grafana dashboards (schemaVersion 39, Grafana 10.4 and later).

A panel is a title, a description that teaches what the graph shows, and PromQL queries. The
queries use Grafana's variables: $model (a TF Serving model name), $datasource and
$__rate_interval (at least four scrape intervals, so rate() always has samples).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def legend(*labels: str) -> str:
    """A Grafana legend template that shows these series labels, e.g. legend("status")."""
    return " ".join("{" * 2 + label + "}" * 2 for label in labels)


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = "__auto"
    # GPU queries need DCGM's metrics, present only on GPU machines; the proof test then
    # checks that Prometheus accepts them without expecting data.
    needs_gpu: bool = False
    # One value at the dashboard's end time instead of a series over its range: for long windows
    # (the SLO period), which would cost a 30-day evaluation per point of a graph.
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # timeseries | stat | heatmap
    width: int = 12
    height: int = 8
    min: float | None = 0
    max: float | None = None
    # Colour steps (from, colour), the first from None (-infinity): stat values take the colour of
    # their step; time series draw each step's start as a dashed line.
    thresholds: tuple[tuple[float | None, str], ...] = ()

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        targets = [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": q.expr,
                "legendFormat": q.legend,
                "range": not q.instant,
                **({"instant": True} if q.instant else {}),
                **({"format": "heatmap"} if self.kind == "heatmap" else {}),
            }
            for i, q in enumerate(self.queries)
        ]
        defaults: dict[str, Any] = {"unit": self.unit}
        if self.min is not None:
            defaults["min"] = self.min
        if self.max is not None:
            defaults["max"] = self.max
        if self.thresholds:
            defaults["thresholds"] = {"mode": "absolute",
                                      "steps": [{"value": start, "color": color} for start, color in self.thresholds]}
            if self.kind == "timeseries":
                defaults["custom"] = {"thresholdsStyle": {"mode": "dashed"}}
        return {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "targets": targets,
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": _options(self.kind),
        }


def _options(kind: str) -> dict[str, Any]:
    if kind == "stat":
        return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value", "graphMode": "area", "textMode": "auto"}
    if kind == "heatmap":
        return {"calculate": False, "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges"},
                "yAxis": {"axisPlacement": "left"}, "tooltip": {"mode": "single", "yHistogram": True}}
    return {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"}}


@dataclass(frozen=True)
class Annotation:
    """Marks drawn on every panel wherever a Prometheus query has a series (one region per series)."""

    name: str
    expr: str
    color: str = "purple"
    title: str = ""  # Grafana legend template; the name when empty
    text: str = ""  # the mark's tooltip text (legend template)
    tag_keys: tuple[str, ...] = ()  # series labels shown as the mark's tags

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "datasource": DATASOURCE, "enable": True, "hide": False,
            "iconColor": self.color, "expr": self.expr, "step": "5s", "titleFormat": self.title or self.name,
            "useValueForTime": False,
            **({"textFormat": self.text} if self.text else {}),
            **({"tagKeys": ",".join(self.tag_keys)} if self.tag_keys else {}),
        }


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    tags: tuple[str, ...] = ("tf-serving",)
    model_variable: bool = True
    # Extra annotation queries (Prometheus) drawn on every panel, besides the "swap" ones.
    annotations: tuple[Annotation, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "editable": True,
            "graphTooltip": 1,  # shared crosshair: line up latency spikes with batch sizes
            "refresh": "5s",
            "time": {"from": "now-15m", "to": "now"},
            "timezone": "browser",
            "templating": {"list": self._variables()},
            "annotations": {"list": self._annotations()},
            "panels": self._layout(),
        }

    def _layout(self) -> list[dict[str, Any]]:
        """Left to right, wrapping at Grafana's 24 columns."""
        panels, x, y, row_height = [], 0, 0, 0
        for panel_id, panel in enumerate(self.panels, start=1):
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(panel.to_json(panel_id, x, y))
            x, row_height = x + panel.width, max(row_height, panel.height)
        return panels

    def _variables(self) -> list[dict[str, Any]]:
        variables: list[dict[str, Any]] = [{
            "name": "datasource", "label": "Data source", "type": "datasource",
            "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "options": [],
        }]
        if self.model_variable:
            query = "label_values(:tensorflow:serving:request_count, model_name)"
            variables.append({
                "name": "model", "label": "Model", "type": "query", "datasource": DATASOURCE,
                "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
                "definition": query, "refresh": 2, "sort": 1, "current": {}, "hide": 0,
                "includeAll": False, "multi": False, "options": [],
            })
        return variables

    def _annotations(self) -> list[dict[str, Any]]:
        annotations: list[dict[str, Any]] = [
            {  # Grafana's own annotations (dashboard edits, manual notes)
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard",
            },
            {  # posted by the swap scenario through grafana.annotate(..., tags=["swap"])
                "name": "Model swaps", "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": False, "iconColor": "orange",
                "target": {"type": "tags", "tags": ["swap"], "matchAny": True, "limit": 100},
            },
        ]
        return annotations + [annotation.to_json() for annotation in self.annotations]
