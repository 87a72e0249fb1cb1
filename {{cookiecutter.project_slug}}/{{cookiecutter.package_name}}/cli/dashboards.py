"""`dashboards build|check|push|preview`: generate the Grafana JSON, send it to Grafana, or draw the
dashboards from Prometheus without Grafana."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from .. import settings
from ..dashboards.render import render_all, stale_files, write_all
from ..errors import DashboardError
from .options import prometheus_option, reports_dir_option

out_option = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("dashboards"),
    show_default=True, help="Folder of the generated JSON (mounted into Grafana by compose).",
)


@click.group("dashboards")
def dashboards_group() -> None:
    """Grafana dashboards generated from Python (see the package's dashboards/ folder)."""


@dashboards_group.command("build")
@out_option
def build_command(out_dir: Path) -> None:
    """Regenerate the dashboard JSON files."""
    for path in write_all(out_dir):
        click.echo(f"wrote {path}")


@dashboards_group.command("check")
@out_option
def check_command(out_dir: Path) -> None:
    """Fail if the JSON files differ from what the builder generates."""
    stale = stale_files(out_dir)
    if stale:
        raise DashboardError(f"stale dashboards in {out_dir}: {', '.join(stale)}; run `python -m "
                             f"{__package__.split('.')[0]} dashboards build`")
    click.echo(f"{out_dir}: up to date")


@dashboards_group.command("push")
@click.option("--url", envvar="GRAFANA_URL", help="Grafana URL (env GRAFANA_URL).")
def push_command(url: str | None) -> None:
    """Send the dashboards to a running Grafana (GRAFANA_URL, GRAFANA_TOKEN or user/password)."""
    from ..dashboards.grafana import push

    dashboards = {name: json.loads(text) for name, text in render_all().items()}
    for url_pushed in push(dashboards, url):
        click.echo(f"pushed {url_pushed}")


@dashboards_group.command("preview")
@prometheus_option("The Prometheus to query (the embedded or the compose one).")
@click.option("--model", default=settings.model_name, show_default="MODEL_NAME", help="The dashboards' $model.")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Draw the last N minutes instead of the last load-test run's window.")
@reports_dir_option("Where the load-test runs are (the newest one sets the window).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports") / "dashboards-preview", show_default=True, help="Folder of the PNGs.")
def preview_command(prometheus: str, model: str, minutes: float | None, reports_dir: Path, out_dir: Path) -> None:
    """Draw every dashboard as a PNG from Prometheus (no Grafana needed), over the last load-test
    run (or the last --minutes)."""
    from tfserving_loadtest.dashboards.evaluate import last_run_window
    from tfserving_loadtest.dashboards.preview import render

    from ..dashboards.definitions import DASHBOARDS

    now = time.time()
    if minutes:
        start, end, source = now - minutes * 60, now, f"the last {minutes:g} minutes"
    elif (run := last_run_window(reports_dir, now)) is not None:
        start, end, source = run[0], run[1], f"the last load-test run, {run[2]}"
    else:
        start, end, source = now - 15 * 60, now, f"the last 15 minutes (no load-test run under {reports_dir})"
    click.echo(f"drawing the dashboards over {source}, from {prometheus}")
    previews = render(prometheus, model, start, end, out_dir, DASHBOARDS)
    for preview in previews:
        click.echo(f"wrote {preview.path}" + (f" ({len(preview.empty)} of {len(preview.panels)} panels without data)"
                                             if preview.empty else ""))
        for panel in preview.empty:
            click.echo(f"  {panel.panel.title}: {panel.note}")
    if all(len(p.empty) == len(p.panels) for p in previews):
        click.echo(f"WARNING: no panel drew data over {source}: nothing was served or scraped then. Start the "
                   "stack (`make serve`) and run a load test (`make loadtest`), or choose --minutes.", err=True)
