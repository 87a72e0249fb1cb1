"""`serve`, `stop` and `status`: run the serving stack in compose or embedded mode."""

from __future__ import annotations

import click

from ..errors import StackError
from ..stack import compose, embedded, replicas
from ..stack.alertmanager import INSTALL_HINT, RECEIVER_SERVICE
from ..stack.mode import choose_mode, docker_engine_error
from ..stack.project import Project
from ..stack.slo_rules import write_slo_rules
from ..stack.status import alert_lines, model_versions

mode_option = click.option(
    "--mode", envvar="SERVE_MODE", type=click.Choice(["compose", "embedded"]), default=None,
    help="Force a mode (env SERVE_MODE). Default: compose when a Docker engine answers, else embedded.",
)


@click.command("serve")
@mode_option
@click.option("--timeout", default=180.0, show_default=True, help="Seconds to wait for the model to be AVAILABLE.")
@click.option("--no-prometheus", is_flag=True, help="Embedded mode: do not start a local Prometheus.")
def serve_command(mode: str | None, timeout: float, no_prometheus: bool) -> None:
    """Serve the models: TF Serving + Prometheus + Alertmanager + Grafana in docker compose
    (COMPOSE_PROFILES picks cpu, gpu or secure), or without Docker the embedded server (+ Prometheus
    and Alertmanager when installed)."""
    project = Project.load()
    write_slo_rules(project)  # compose/rules/slo.yml follows SLO_* in .env, for both modes
    chosen = choose_mode(mode)
    if chosen == "embedded" and replicas.count(project) > 1:
        raise StackError(f"REPLICAS={replicas.count(project)} needs the compose stack (a Docker engine): the embedded "
                         "server runs alone; set REPLICAS=1 to serve without Docker")
    if chosen == "compose":
        started = compose.up(project, timeout, say=click.echo)
        click.echo(f"compose stack is up (profiles {', '.join(started)})")
        _print_urls(project, {c.service for c in compose.containers(project)})
    else:
        found = embedded.start(project, timeout=timeout, with_prometheus=not no_prometheus)
        click.echo(f"embedded server is up (logs and pid files in {project.run_dir})")
        if found.prometheus is None and not no_prometheus:
            click.echo("prometheus is not installed: metrics are served, but nothing scrapes them")
        elif found.prometheus is not None and found.alertmanager is None:
            click.echo("prometheus-alertmanager is not installed: Prometheus evaluates the alert rules (its "
                       f"/alerts page), but no notification goes out; `{INSTALL_HINT}` and serve again")
        _print_urls(project, None, prometheus=found.prometheus is not None, alertmanager=found.alertmanager is not None)


@click.command("stop")
@click.option("--volumes", is_flag=True, help="Compose: also remove the Prometheus and Grafana data volumes.")
def stop_command(volumes: bool) -> None:
    """Stop exactly what `serve` started (recorded pid files, this project's compose containers)."""
    project = Project.load()
    stopped = embedded.stop(project)
    for what in stopped:
        click.echo(f"stopped {what}")
    if docker_engine_error() is None and compose.down(project, volumes=volumes):
        stopped.append("compose stack")
        click.echo("stopped the compose stack" + (" and removed its volumes" if volumes else ""))
    if not stopped:
        click.echo("nothing was running")


@click.command("status")
def status_command() -> None:
    """Show what runs, the model versions loaded, the URLs and the alerts firing (from Alertmanager)."""
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
    if containers:
        services = {c.service for c in containers if c.status == "running"}
        _print_urls(project, services)
        alertmanager = "alertmanager" in services
    else:
        names = {r.name for r in running}
        alertmanager = embedded.ALERTMANAGER in names
        _print_urls(project, None, prometheus=embedded.PROMETHEUS in names, alertmanager=alertmanager)
    if alertmanager:
        for line in alert_lines(f"http://127.0.0.1:{project.port('ALERTMANAGER_PORT')}"):
            click.echo(line)
    else:
        click.echo("alerts: Alertmanager is not running, so none are routed "
                   + ("(its service is not up: `make serve`)" if containers else f"(`{INSTALL_HINT}`, then `make stop serve`)"))


def _print_urls(project: Project, services: set[str] | None, prometheus: bool = True, alertmanager: bool = False) -> None:
    """The URLs of what runs: `services` of the compose stack, or (None) the embedded server."""
    secure = services is not None and "proxy" in services
    found = embedded.urls(project, with_prometheus=prometheus if services is None else "prometheus" in services,
                          tls=secure, with_alertmanager=alertmanager if services is None else "alertmanager" in services)
    click.echo(f"model {project.model_name}: {model_versions(found.rest, project.model_name)}")
    click.echo(f"  REST     {found.rest}/v1/models/{project.model_name}" + ("  (TLS, API key)" if secure else ""))
    click.echo(f"  gRPC     {found.grpc}" + ("  (TLS, API key)" if secure else ""))
    if services is not None and "balancer" in services:
        click.echo("  metrics  each replica's, inside the compose network (Prometheus scrapes every one)")
    else:
        click.echo(f"  metrics  {'inside the compose network only: tfserving:8501' if secure else found.rest}"
                   "/monitoring/prometheus/metrics")
    if found.prometheus:
        click.echo(f"  Prometheus {found.prometheus}")
    if found.alertmanager:
        click.echo(f"  Alertmanager {found.alertmanager}")
    if found.alert_receiver and (services is None or RECEIVER_SERVICE in services):
        click.echo(f"  alert receiver {found.alert_receiver} (notifications also in run/alerts.jsonl)")
    if services is not None and "balancer" in services:
        click.echo(f"  balancer http://127.0.0.1:{project.port('BALANCER_PORT')}/stats (HAProxy, per replica), "
                   f"runtime API on 127.0.0.1:{project.port('BALANCER_ADMIN_PORT')}")
    if services is not None and "grafana" in services:
        click.echo(f"  Grafana  http://127.0.0.1:{project.port('GRAFANA_PORT')} (anonymous viewer; admin password in .env)")
