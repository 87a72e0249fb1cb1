"""Small building blocks for Grafana dashboards, rendered with Grafana's own typed builders
(grafana-foundation-sdk, schema of Grafana 11.6; Grafana 12 reads it as is).

A panel is a title, a description that teaches what the graph shows, and PromQL queries. The
queries use Grafana's variables: $model (a TF Serving model name), $datasource and
$__rate_interval (at least four scrape intervals, so rate() always has samples). The same
definitions feed the Grafana JSON (`Dashboard.to_json`), the queries' evaluation on a real Prometheus
(evaluate.py) and the matplotlib preview (preview.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models
from grafana_foundation_sdk.models import heatmap as heatmap_models
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
GRAFANA = models.DataSourceRef(type_val="grafana", uid="-- Grafana --")
MODEL_QUERY = "label_values(:tensorflow:serving:request_count, model_name)"


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

    def builder(self, ref_id: str, heatmap_format: bool) -> prometheus.Dataquery:
        query = (prometheus.Dataquery().ref_id(ref_id).datasource(DATASOURCE).expr(self.expr)
                 .legend_format(self.legend))
        query = query.instant() if self.instant else query.range()
        return query.format(PromQueryFormat.HEATMAP) if heatmap_format else query


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
    # Why the panel may draw nothing in a given window (the preview says so); GPU queries say it
    # themselves.
    no_data: str = "no series in this window"

    def builder(self, panel_id: int, x: int, y: int) -> Any:
        """The panel as the SDK's builder of its kind, at grid position (x, y)."""
        kinds: dict[str, type[Any]] = {"timeseries": timeseries.Panel, "stat": stat.Panel, "heatmap": heatmap.Panel}
        builder = kinds[self.kind]()
        builder = (builder.id(panel_id).title(self.title).description(self.description).datasource(DATASOURCE)
                   .grid_pos(models.GridPos(h=self.height, w=self.width, x=x, y=y)).unit(self.unit))
        for index, query in enumerate(self.queries):
            builder = builder.with_target(query.builder(chr(ord("A") + index), self.kind == "heatmap"))
        if self.min is not None:
            builder = builder.min(self.min)
        if self.max is not None:
            builder = builder.max(self.max)
        if self.thresholds:
            steps = [models.Threshold(value=start, color=color) for start, color in self.thresholds]
            builder = builder.thresholds(dashboard_builders.ThresholdsConfig().mode(models.ThresholdsMode.ABSOLUTE)
                                         .steps(steps))
        return _styled(self.kind, builder, bool(self.thresholds))


def _styled(kind: str, builder: Any, thresholds: bool) -> Any:
    """Each kind's display options: stat shows the last value, heatmap reads Prometheus buckets
    as they are (no recalculation), time series share a multi-series tooltip."""
    if kind == "stat":
        return (builder.reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("")
                                       .values(False))
                .color_mode(common.BigValueColorMode.VALUE).graph_mode(common.BigValueGraphMode.AREA)
                .text_mode(common.BigValueTextMode.AUTO))
    if kind == "heatmap":
        return (builder.calculate(False).cell_gap(1)
                # Grafana's own defaults, spelled out: the SDK writes zeros for unset numbers.
                .color(heatmap.HeatmapColorOptions().mode(heatmap_models.HeatmapColorMode.SCHEME).scheme("Oranges")
                       .fill("dark-orange").scale(heatmap_models.HeatmapColorScale.EXPONENTIAL).exponent(0.5).steps(64))
                .y_axis(heatmap.YAxisConfig().axis_placement(common.AxisPlacement.LEFT))
                .mode(common.TooltipDisplayMode.SINGLE).show_y_histogram())
    builder = (builder.legend(common_builders.VizLegendOptions().display_mode(common.LegendDisplayMode.LIST)
                              .placement(common.LegendPlacement.BOTTOM).show_legend(True))
               .tooltip(common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI)
                        .sort(common.SortOrder.DESCENDING)))
    if thresholds:  # each step's start drawn as a dashed line
        builder = builder.thresholds_style(common_builders.GraphThresholdsStyleConfig()
                                           .mode(common.GraphThresholdsStyleMode.DASHED))
    return builder


@dataclass(frozen=True)
class Annotation:
    """Marks drawn on every panel wherever a Prometheus query has a series (one region per series)."""

    name: str
    expr: str
    color: str = "purple"
    title: str = ""  # Grafana legend template; the name when empty
    text: str = ""  # the mark's tooltip text (legend template)
    tag_keys: tuple[str, ...] = ()  # series labels shown as the mark's tags

    def builder(self) -> dashboard_builders.AnnotationQuery:
        return (dashboard_builders.AnnotationQuery().name(self.name).datasource(DATASOURCE).enable(True).hide(False)
                .icon_color(self.color).expr(self.expr))

    def prometheus_options(self) -> dict[str, Any]:
        """The Prometheus annotation's own options, which the SDK's AnnotationQuery has no field for
        (it models the fields every data source shares): added to its JSON by hand."""
        return {
            "step": "5s", "titleFormat": self.title or self.name, "useValueForTime": False,
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

    def layout(self) -> list[tuple[Panel, int, int]]:
        """(panel, x, y) left to right, wrapping at Grafana's 24 columns."""
        placed, x, y, row_height = [], 0, 0, 0
        for panel in self.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            placed.append((panel, x, y))
            x, row_height = x + panel.width, max(row_height, panel.height)
        return placed

    def builder(self) -> dashboard_builders.Dashboard:
        builder = (dashboard_builders.Dashboard(self.title).uid(self.uid).description(self.description)
                   .tags(list(self.tags)).version(1).editable()
                   .tooltip(models.DashboardCursorSync.CROSSHAIR)  # shared crosshair: line up latency spikes with batch sizes
                   .refresh("5s").time("now-15m", "now").timezone("browser"))
        for variable in self._variables():
            builder = builder.with_variable(variable)
        for annotation in self._annotations():
            builder = builder.annotation(annotation)
        for panel_id, (panel, x, y) in enumerate(self.layout(), start=1):
            builder = builder.with_panel(panel.builder(panel_id, x, y))
        return builder

    def to_json(self) -> dict[str, Any]:
        built: dict[str, Any] = json.loads(JSONEncoder().encode(self.builder().build()))
        extras = {a.name: a.prometheus_options() for a in self.annotations}
        for annotation in built["annotations"]["list"]:
            annotation.update(extras.get(annotation["name"], {}))
        return built

    def _variables(self) -> list[Any]:
        variables: list[Any] = [dashboard_builders.DatasourceVariable("datasource").label("Data source")
                                .type("prometheus")]
        if self.model_variable:
            variables.append(
                dashboard_builders.QueryVariable("model").label("Model").datasource(DATASOURCE)
                .query({"query": MODEL_QUERY, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1})
                .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(models.VariableSort.ALPHABETICAL_ASC)
                .include_all(False).multi(False))
        return variables

    def _annotations(self) -> list[dashboard_builders.AnnotationQuery]:
        return [
            # Grafana's own annotations (dashboard edits, manual notes)
            dashboard_builders.AnnotationQuery().name("Annotations & Alerts").datasource(GRAFANA).enable(True)
            .hide(True).icon_color("rgba(0, 211, 255, 1)").type("dashboard").built_in(1),
            # posted by the swap scenario through grafana.annotate(..., tags=["swap"])
            dashboard_builders.AnnotationQuery().name("Model swaps").datasource(GRAFANA).enable(True).hide(False)
            .icon_color("orange")
            .target(dashboard_builders.AnnotationTarget().type("tags").tags(["swap"]).match_any(True).limit(100)),
            *(annotation.builder() for annotation in self.annotations),
        ]
