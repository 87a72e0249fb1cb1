"""Where a run's results go: reports/<timestamp>-<scenario>/ with summary.json, PNGs and one
self-contained report.html (images embedded), plus a table on the terminal."""

from __future__ import annotations

import base64
import html
import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import arrivals
from .locust_run import LocustResult
from .stats import PERCENTILE_RULE


def say(message: str) -> None:
    """Progress and results of a run, on stderr (stdout stays free for what callers pipe)."""
    print(message, file=sys.stderr, flush=True)


def run_row(result: LocustResult, **extra: Any) -> dict[str, Any]:
    """One Locust run's numbers, straight from its CSV's Aggregated row."""
    stats = result.stats
    return {
        "label": result.label,
        "users": result.users,
        "requests": result.requests,
        "failures": result.failures,
        "error_rate": round(result.failures / result.requests, 6) if result.requests else None,
        "rps": stats.get("Requests/s"),
        "p50_ms": stats.get("50%"),
        "p95_ms": stats.get("95%"),
        "p99_ms": stats.get("99%"),
        "avg_ms": stats.get("Average Response Time"),
        "generator_cpu_peak_percent": result.generator_cpu_peak,
        "generator_bottleneck": result.cpu_warning,
        "workers": result.workers,
        # One Locust master aggregates its workers' numbers; this is each worker's share.
        "requests_per_worker": sorted(result.worker_requests.values()),
        **_open_loop(result),
        **extra,
    }


def _open_loop(result: LocustResult) -> dict[str, Any]:
    """An open-loop run's target rate, missed sends and whether the rate was kept (none for closed loop)."""
    if not result.open_loop:
        return {}
    tally = arrivals.Tally.merge([result.open_loop["tally"]])
    return arrivals.summary(tally, float(result.open_loop["target_rps"]), result.stats.get("Requests/s"), result.users)


def generator_warning(rows: Sequence[dict[str, Any]]) -> str | None:
    limited = [str(row["label"]) for row in rows if row.get("generator_bottleneck")]
    if not limited:
        return None
    return (f"the load generator, not the server, may have been the bottleneck in: {', '.join(limited)} "
            "(Locust's CPU warning or >90% CPU); numbers there understate the server: "
            "use --workers N on a machine with spare cores, or fewer users")


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = run_dir / "summary.json"
    path.write_text(json.dumps({**summary, "percentile_rule": PERCENTILE_RULE}, indent=2, default=str))
    return path


def add_verdict(run_dir: Path, results: Sequence[dict[str, Any]]) -> None:
    """Adds the --fail-if results to a written run: in summary.json, and at the top of report.html."""
    path = run_dir / "summary.json"
    summary = json.loads(path.read_text())
    summary.update(thresholds=list(results), thresholds_passed=all(r["passed"] for r in results))
    path.write_text(json.dumps(summary, indent=2, default=str))
    page = run_dir / "report.html"
    if not page.is_file():
        return
    parts = [f"<p class='fail'>{html.escape(r['message'])}</p>" for r in results if not r["passed"]]
    passed = [r["threshold"] for r in results if r["passed"]]
    if passed:
        parts.append(f"<p>thresholds passed: {html.escape(', '.join(passed))}</p>")
    page.write_text(page.read_text().replace("</h1>", "</h1>" + "".join(parts), 1))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    if value is None:
        return "-"
    return str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Fixed-width text table of `columns` of `rows`."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) if cells else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th { background: #f3f3f3; }
.warning { background: #fff3cd; padding: 0.6rem; border-left: 4px solid #e0a800; }
.fail { background: #f8d7da; padding: 0.6rem; border-left: 4px solid #c00; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5rem 0; }
"""


@dataclass(frozen=True)
class Page:
    """What a scenario's report shows: report.html's title, tables, images, notes and failures, and
    the lines the terminal gets (tables, results, warnings), in order."""

    title: str
    sections: Sequence[tuple[str, Sequence[dict[str, Any]], Sequence[str]]]
    images: Sequence[Path] = ()
    notes: Sequence[str] = ()
    failures: Sequence[str] = ()
    terminal: Sequence[str] = ()


def publish(run_dir: Path, summary: dict[str, Any], page: Page) -> dict[str, Any]:
    """How every scenario ends, once its verdict is in `summary`: summary.json, report.html, the
    terminal's lines, then where the report is; the summary comes back with its run_dir."""
    write_summary(run_dir, summary)
    write_html(run_dir, page.title, page.sections, page.images, notes=page.notes, failures=page.failures)
    for line in page.terminal:
        say(line)
    say(f"report: {run_dir / 'report.html'}")
    return {**summary, "run_dir": str(run_dir)}


def warnings(notes: Sequence[str], prefix: str = "WARNING") -> list[str]:
    return [f"{prefix}: {note}" for note in notes]


def write_html(run_dir: Path, title: str, sections: Sequence[tuple[str, Sequence[dict[str, Any]], Sequence[str]]],
               images: Sequence[Path], notes: Sequence[str] = (), failures: Sequence[str] = ()) -> Path:
    """report.html with the tables, notes and PNGs embedded (base64), readable offline."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts += [f"<p class='fail'>{html.escape(text)}</p>" for text in failures]
    parts += [f"<p class='warning'>{html.escape(text)}</p>" for text in notes]
    for heading, rows, columns in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>{_html_table(rows, columns)}")
    parts += [f"<h3>{html.escape(image.stem.replace('_', ' '))}</h3>{embedded(image)}" for image in images]
    for section in _appendices:
        parts += section(run_dir)
    locust_reports = sorted(p.name for p in run_dir.glob("*.html") if p.name != "report.html")
    if locust_reports:
        links = "".join(f"<li><a href='{html.escape(n)}'>{html.escape(n)}</a></li>" for n in locust_reports)
        parts.append(f"<h2>Locust's own reports</h2><ul>{links}</ul>")
    parts.append(f"<p>Percentiles: {html.escape(PERCENTILE_RULE)}.</p>"
                 "<p>Raw data: summary.json and Locust's CSV files in this folder.</p></body></html>")
    path = run_dir / "report.html"
    path.write_text("".join(parts))
    return path


# Sections a project adds to every report (its dashboards over the run, say): run folder -> HTML parts.
_appendices: list[Callable[[Path], list[str]]] = []


def add_appendix(section: Callable[[Path], list[str]]) -> None:
    """Adds `section(run_dir)`'s HTML to the end of every report this process writes."""
    if section not in _appendices:
        _appendices.append(section)


def embedded(image: Path) -> str:
    """A PNG as an <img> that carries its data (the report reads offline)."""
    data = base64.b64encode(image.read_bytes()).decode()
    return f"<img alt='{html.escape(image.stem)}' src='data:image/png;base64,{data}'>"
