"""`tfserving-stack`: serve, stop and status of a serving project's stack (docker compose when a
Docker engine answers, else the embedded server with a local Prometheus and Alertmanager), its
local images, its certificates, and the webhook receiver Alertmanager notifies.

The project is the folder that holds .env and compose/ (`--project-dir`, default: the current
folder). A project with a command line of its own mounts these commands in it and gives its
Project through `use_project` (its root and its settings' defaults). An expected failure prints
one `Error: ...` line and exits with status 1.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .errors import StackError

if TYPE_CHECKING:
    from .project import Project

# Where the running command finds its project (click context meta): the host's loader, or --project-dir.
_PROJECT = "tfserving_stack.project"
_PROJECT_DIR = "tfserving_stack.dir"


def use_project(ctx: click.Context, load: Callable[[], Project]) -> None:
    """Make `load` the project these commands act on (a host command line calls it in its group)."""
    ctx.meta[_PROJECT] = load


def current_project() -> Project:
    """The project of the running command: the host's (use_project), else --project-dir's."""
    ctx = click.get_current_context()
    from .project import Project

    load = ctx.meta.get(_PROJECT)
    return load() if load is not None else Project.load(Path(ctx.meta.get(_PROJECT_DIR, ".")))


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StackError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tfserving-stack")
@click.option("--project-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="the project: the folder that holds .env and compose/")
@click.pass_context
def main(ctx: click.Context, project_dir: Path) -> None:
    """Run a TF Serving project's stack, with Docker or without."""
    ctx.meta[_PROJECT_DIR] = project_dir


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
    from . import compose, embedded, replicas
    from .alertmanager import INSTALL_HINT
    from .mode import choose_mode
    from .slo_rules import write_slo_rules

    project = current_project()
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
    from . import compose, embedded
    from .mode import docker_engine_error

    project = current_project()
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
    from . import compose, embedded
    from .alertmanager import INSTALL_HINT
    from .mode import docker_engine_error
    from .status import alert_lines

    project = current_project()
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
    from . import embedded
    from .alertmanager import RECEIVER_SERVICE
    from .status import model_versions

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


@click.group("images")
def images_group() -> None:
    """Local images for the compose stack (no registry needed), and which ones .env uses."""


@images_group.command("build")
@click.option("--rebuild-base", is_flag=True, help="Make the Debian base image anew (it is kept between runs).")
def build_command(rebuild_base: bool) -> None:
    """Build the model server (which also runs Locust and the alert receiver), Prometheus, Alertmanager,
    nginx and balancer (HAProxy) images locally."""
    from . import images

    project = current_project()
    settings = images.build(project, rebuild_base, say=lambda line: click.echo(line, err=True))
    for image in dict.fromkeys(settings.values()):
        click.echo(f"built {image} ({images.size(image)})")
    click.echo("\nTo run the compose stack on them, set in .env (`make use-local-images` does it):")
    for key, value in settings.items():
        click.echo(f"{key}={value}")
    click.echo("Grafana, the GPU image and NVIDIA's DCGM exporter have no local build: the stack runs without "
               "Grafana when its image cannot be pulled.")


@images_group.command("use-local")
def use_local_command() -> None:
    """Point .env at the images `images build` made."""
    from . import images

    project = current_project()
    _write_env(project, images.local_settings(project))


@images_group.command("use-upstream")
def use_upstream_command() -> None:
    """Point .env back at the upstream images (the compose file's defaults)."""
    from . import images

    project = current_project()
    _write_env(project, images.upstream_settings(project))


def _write_env(project: Project, settings: dict[str, str]) -> None:
    from . import images

    images.write_settings(project, settings)
    for key, value in settings.items():
        click.echo(f".env: {key}={value}")


@click.group("alerts")
def alerts_group() -> None:
    """Alerts: the webhook receiver that Alertmanager notifies."""


@alerts_group.command("receive")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 in a container, for Alertmanager in another one).")
@click.option("--port", type=int, envvar="ALERT_WEBHOOK_PORT", default=None, show_default="ALERT_WEBHOOK_PORT",
              help="Port to listen on (env ALERT_WEBHOOK_PORT, else the project's .env).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("run/alerts.jsonl"),
              show_default=True, help="File each notification is appended to, one JSON object a line.")
def receive_command(host: str, port: int | None, out: Path) -> None:
    """Receive Alertmanager's webhook notifications at POST /alerts, append them to --out and list
    them at GET /alerts, until interrupted."""
    from .alert_receiver import serve

    if port is None:
        port = current_project().port("ALERT_WEBHOOK_PORT")
    click.echo(f"receiving Alertmanager notifications at http://{host}:{port}/alerts, appending to {out}")
    serve(host, port, out)


@click.command("certs")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("certs"), show_default=True)
@click.option("--host", "hosts", multiple=True, help="Extra DNS name or IP for the server certificate (repeatable).")
@click.option("--days", type=int, default=365, show_default=True, help="Validity of the server certificate.")
@click.option("--force", is_flag=True, help="Make a new CA, certificate and key even if they exist (keeps API keys).")
def certs_command(out: Path, hosts: tuple[str, ...], days: int, force: bool) -> None:
    """Make a local CA, a server certificate and an API key file in certs/ for TLS + API keys."""
    from .certs import DEFAULT_HOSTS, write_certs

    files = write_certs(out, DEFAULT_HOSTS + tuple(h for h in hosts if h not in DEFAULT_HOSTS), days, force)
    click.echo(f"certificates and keys in {out}/ (gitignored):")
    for path in files.values():
        click.echo(f"  {path}")
    click.echo("\nclients: export SERVING_CA_FILE=certs/ca.pem SERVING_API_KEY_FILE=certs/api_keys.txt\n"
               "embedded server: --ssl_cert_file=certs/server.pem --ssl_key_file=certs/server-key.pem "
               "--api_keys_file=certs/api_keys.txt\n"
               "docker compose: --profile secure (see compose/README.md)")


for _command in (serve_command, stop_command, status_command, images_group, alerts_group, certs_command):
    main.add_command(_command)
