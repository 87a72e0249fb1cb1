"""Every metric the alert and recording rules, the dashboards and the Kubernetes metrics adapter
read is one that the stack exposes (contract.exposed_series, from the exporters' own definitions)
or that a recording rule makes: a renamed metric fails here, not in a silent empty graph."""

from __future__ import annotations

import re

import yaml

from {{ cookiecutter.package_name }}.contract import exposed_series
from {{ cookiecutter.package_name }}.dashboards.definitions import DASHBOARDS
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

RULES = sorted((PROJECT_ROOT / "compose" / "rules").glob("*.yml"))
ADAPTER = PROJECT_ROOT / "deploy" / "k8s" / "prometheus-adapter" / "config.yaml"
# PromQL's functions, aggregations and keywords: the identifiers of an expression that name no series.
WORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset",
    "sum", "avg", "min", "max", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "rate", "irate", "increase", "delta", "idelta", "histogram_quantile", "clamp", "clamp_min",
    "clamp_max", "abs", "absent", "absent_over_time", "vector", "scalar", "time", "label_replace", "label_join",
    "sum_over_time", "avg_over_time", "max_over_time", "min_over_time", "count_over_time", "last_over_time",
    "present_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time", "changes", "resets",
    "deriv", "predict_linear", "sort", "sort_desc", "round", "ceil", "floor", "exp", "ln", "log2", "log10",
    "sqrt", "timestamp", "day_of_week", "hour", "minute", "month", "year", "days_in_month", "sgn", "inf", "nan",
    "Inf", "NaN",
})


def series_names(expr: str) -> set[str]:
    """The series an expression reads: its identifiers once strings, label matchers, ranges, grouping
    lists, Grafana variables and the adapter's templates are out, less functions and keywords."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    for pattern in (r"<<[^>]*>>", r"\$\{?\w+\}?", r"\{[^{}]*\}", r"\[[^\]]*\]",
                    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"):
        text = re.sub(pattern, " ", text)
    found = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, called = match.groups()
        if not called and name not in WORDS:
            found.add(name)
    return found


def rule_exprs() -> dict[str, str]:
    rules = [rule for path in RULES for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]
    return {rule.get("record") or rule["alert"]: rule["expr"] for rule in rules}


def recorded() -> set[str]:
    return {rule["record"] for path in RULES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "record" in rule}


def readers() -> dict[str, str]:
    """Where each expression is read: the rules, every dashboard query and annotation, the adapter."""
    found = {f"rule {name}": expr for name, expr in rule_exprs().items()}
    for file_name, dashboard in DASHBOARDS.items():
        for panel in dashboard.panels:
            for query in panel.queries:
                found[f"{file_name} / {panel.title}: {query.expr}"] = query.expr
        for annotation in dashboard.annotations:
            found[f"{file_name} / annotation {annotation.name}"] = annotation.expr
    for number, rule in enumerate(yaml.safe_load(ADAPTER.read_text())["rules"]):
        for key in ("seriesQuery", "metricsQuery"):
            found[f"adapter rule {number} {key}"] = rule[key]
    return found


def test_every_metric_read_is_exposed_or_recorded():
    known = exposed_series() | recorded()
    read = {where: series_names(expr) for where, expr in readers().items()}
    assert ":tensorflow:serving:request_count" in read["adapter rule 0 seriesQuery"]
    assert sum(len(names) for names in read.values()) > 100  # the extraction finds what there is to find
    unknown = {where: sorted(names - known) for where, names in read.items() if names - known}
    assert not unknown, unknown


def test_the_extraction_reads_promql_as_written():
    expr = ('sum by (model_name) (rate(:tensorflow:serving:request_count{status!="OK", model_name=~"$model"}'
            '[$__rate_interval])) / on(model_name) group_left model:request_rate:rate5m > bool 0.1')
    assert series_names(expr) == {":tensorflow:serving:request_count", "model:request_rate:rate5m"}
    assert series_names("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) * 1e3") == {"x_bucket"}
    assert series_names('sum(rate(<<.Series>>{<<.LabelMatchers>>}[2m])) by (<<.GroupBy>>)') == set()
    assert "renamed_metric" in series_names("rate(renamed_metric[5m])") - (exposed_series() | recorded())
