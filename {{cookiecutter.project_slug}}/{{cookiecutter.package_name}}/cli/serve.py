"""`serve`, `stop` and `status`: run the serving stack in compose or embedded mode."""

from __future__ import annotations

import click

from ..stack import compose, embedded
from ..stack.mode import choose_mode, docker_engine_error
from ..stack.project import Project
from ..stack.status import model_versions

mode_option = click.option(
    "--mode", envvar="SERVE_MODE", type=click.Choice(["compose", "embedded"]), default=None,
    help="Force a mode (env SERVE_MODE). Default: compose when a Docker engine answers, else embedded.",
)


@click.command("serve")
@mode_option
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for the model to be AVAILABLE.")
@click.option("--no-prometheus", is_flag=True, help="Embedded mode: do not start a local Prometheus.")
def serve_command(mode: str | None, timeout: float, no_prometheus: bool) -> None:
    """Serve the models: TF Serving + Prometheus + Grafana in docker compose, or without Docker
    the embedded server (+ Prometheus when installed), in the background."""
    project = Project.load()
    if choose_mode(mode) == "compose":
        compose.up(project, timeout)
        click.echo("compose stack is up")
    else:
        found = embedded.start(project, timeout=timeout, with_prometheus=not no_prometheus)
        click.echo(f"embedded server is up (logs and pid files in {project.run_dir})")
        if found.prometheus is None and not no_prometheus:
            click.echo("prometheus is not installed: metrics are served, but nothing scrapes them")
    _print_urls(project)


@click.command("stop")
def stop_command() -> None:
    """Stop exactly what `serve` started (recorded pid files, this project's compose containers)."""
    project = Project.load()
    stopped = embedded.stop(project)
    for what in stopped:
        click.echo(f"stopped {what}")
    if docker_engine_error() is None and compose.down(project):
        stopped.append("compose stack")
        click.echo("stopped the compose stack")
    if not stopped:
        click.echo("nothing was running")


@click.command("status")
def status_command() -> None:
    """Show what runs, the model versions loaded and the URLs."""
    project = Project.load()
    running = embedded.running(project)
    for record in running:
        click.echo(f"embedded {record.name}: running (pid {record.pid}, log {record.log})")
    containers = compose.containers(project) if docker_engine_error() is None else []
    for c in containers:
        click.echo(f"compose {c.service}: {c.status}" + (f" ({c.health})" if c.health else ""))
    if not running and not containers:
        click.echo("nothing is running: start it with `make serve`")
        return
    _print_urls(project, compose_mode=bool(containers), prometheus=any(r.name == embedded.PROMETHEUS for r in running))


def _print_urls(project: Project, compose_mode: bool | None = None, prometheus: bool = True) -> None:
    if compose_mode is None:
        compose_mode = not embedded.running(project)
    found = embedded.urls(project, with_prometheus=compose_mode or prometheus)
    click.echo(f"model {project.model_name}: {model_versions(found.rest, project.model_name)}")
    click.echo(f"  REST     {found.rest}/v1/models/{project.model_name}")
    click.echo(f"  gRPC     {found.grpc}")
    click.echo(f"  metrics  {found.metrics}")
    if found.prometheus:
        click.echo(f"  Prometheus {found.prometheus}")
    if compose_mode:
        click.echo(f"  Grafana  http://127.0.0.1:{project.port('GRAFANA_PORT')} (anonymous viewer; admin password in .env)")
