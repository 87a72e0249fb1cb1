"""`dashboards build|check|push`: generate the Grafana JSON and send it to Grafana."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..dashboards.render import render_all, stale_files, write_all
from ..errors import DashboardError

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
