"""--fail-if thresholds: parsing, @files, evaluation against a summary, and the verdict in the report."""

from __future__ import annotations

import json

import pytest

from tfserving_loadtest import report
from tfserving_loadtest.errors import LoadTestError
from tfserving_loadtest.thresholds import Threshold, evaluate, load, parse


@pytest.mark.parametrize(("text", "op", "value"), [
    ("p99_ms>50", ">", 50), ("p99_ms>=50", ">=", 50), ("p99_ms<50", "<", 50), ("p99_ms<=50", "<=", 50),
    ("p99_ms==50", "==", 50), ("p99_ms!=50", "!=", 50), ("  p99_ms  >=  2.5e1 ", ">=", 25),
])
def test_parse_reads_every_operator_with_or_without_spaces(text, op, value):
    threshold = parse(text)
    assert (threshold.metric, threshold.op, threshold.value) == ("p99_ms", op, value)
    assert " " not in threshold.text and threshold.text.startswith(f"p99_ms{op}")


@pytest.mark.parametrize("text", ["p99_ms>>5", "p99_ms>", "p99_ms 50", "> 50", "p99_ms>fast", "p99_ms>nan", ""])
def test_parse_rejects_malformed_expressions(text):
    with pytest.raises(LoadTestError, match="METRIC OP NUMBER"):
        parse(text)


def test_parse_rejects_an_unknown_metric_and_names_the_known_ones():
    with pytest.raises(LoadTestError, match=r"unknown metric 'p99'.*known: .*error_rate.*p99_ms.*capacity_rps"):
        parse("p99>5")


def test_load_reads_expressions_and_files_with_comments(tmp_path):
    file = tmp_path / "thresholds.txt"
    file.write_text("# latency\np99_ms > 50\n\nerror_rate>0.001  # at most 1 in 1000\n")
    assert [t.text for t in load(["rps<10", f"@{file}"])] == ["rps<10", "p99_ms>50", "error_rate>0.001"]


def test_load_names_the_file_and_line_of_a_bad_expression(tmp_path):
    file = tmp_path / "thresholds.txt"
    file.write_text("p99_ms>50\np99>>5\n")
    with pytest.raises(LoadTestError, match=r"thresholds.txt:2: "):
        load([f"@{file}"])


def test_load_fails_on_a_missing_file(tmp_path):
    with pytest.raises(LoadTestError, match="not found"):
        load([f"@{tmp_path / 'nope.txt'}"])


ROWS = [{"label": "off-16users", "p99_ms": 40, "error_rate": 0.0},
        {"label": "on-64users", "p99_ms": 63, "error_rate": None},
        {"label": "on-1users", "p99_ms": 55}]


def test_a_row_metric_fails_if_any_row_violates_it_and_reports_the_worst():
    (result,) = evaluate([parse("p99_ms>50")], {"runs": ROWS})
    assert result["passed"] is False and (result["observed"], result["where"]) == (63, "on-64users")
    assert result["message"] == "threshold failed: p99_ms>50 (p99_ms = 63 in on-64users)"
    (result,) = evaluate([parse("p99_ms<45")], {"runs": ROWS})
    assert result["passed"] is False and result["where"] == "off-16users"


def test_a_threshold_no_row_violates_passes_with_the_closest_row():
    (result,) = evaluate([parse("p99_ms>=64")], {"runs": ROWS})
    assert result["passed"] is True and (result["observed"], result["where"]) == (63, "on-64users")


def test_the_boundary_value_passes_a_strict_comparison():
    summary = {"runs": [{"label": "steady", "p99_ms": 50}]}
    assert evaluate([parse("p99_ms>50")], summary)[0]["passed"] is True
    assert evaluate([parse("p99_ms>=50")], summary)[0]["passed"] is False


def test_equality_operators_compare_every_row():
    assert evaluate([parse("p99_ms==55")], {"runs": ROWS})[0]["where"] == "on-1users"
    (result,) = evaluate([parse("p99_ms!=40")], {"runs": ROWS})
    assert result["passed"] is False and result["observed"] == 63


def test_a_headline_metric_is_read_from_the_summary():
    summary = {"metrics": {"capacity_rps": 180.0, "capacity_on_off": None}, "runs": [{"label": "probe", "rps": 1}]}
    (result,) = evaluate([parse("capacity_rps<200")], summary)
    assert result["passed"] is False and (result["observed"], result["where"]) == (180.0, "summary")


@pytest.mark.parametrize("text", ["capacity_on_off<1.2", "missed_sends>0"])
def test_a_metric_measured_nowhere_fails(text):
    (result,) = evaluate([parse(text)], {"metrics": {"capacity_on_off": None}, "runs": ROWS})
    assert result["passed"] is False and result["observed"] is None
    assert "not measured in this run" in result["message"]


def test_rows_without_the_metric_are_skipped_and_none_anywhere_fails():
    threshold = Threshold("error_rate", ">", 0.5, "error_rate>0.5")
    (result,) = evaluate([threshold], {"runs": ROWS})  # error_rate None: no requests in that row
    assert result["passed"] is True and (result["observed"], result["where"]) == (0.0, "off-16users")
    assert not evaluate([threshold], {"runs": [{"label": "idle", "error_rate": None}]})[0]["passed"]


def test_add_verdict_updates_summary_and_report(tmp_path):
    report.write_summary(tmp_path, {"scenario": "steady", "runs": ROWS})
    report.write_html(tmp_path, "Steady load", [("Result", ROWS, ("label", "p99_ms"))], [])
    results = evaluate([parse("p99_ms>50"), parse("error_rate>0.5"), parse("rps<1")], {"runs": ROWS})
    report.add_verdict(tmp_path, results)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["scenario"] == "steady" and summary["thresholds_passed"] is False
    assert [r["passed"] for r in summary["thresholds"]] == [False, True, False]
    page = (tmp_path / "report.html").read_text()
    _, body = page.split("</h1>", 1)
    assert body.startswith("<p class='fail'>threshold failed: p99_ms&gt;50 (p99_ms = 63 in on-64users)</p>")
    assert "rps&lt;1 (rps not measured in this run)" in body
    assert "<p>thresholds passed: error_rate&gt;0.5</p>" in body and body.index("passed:") < body.index("<h2>")
