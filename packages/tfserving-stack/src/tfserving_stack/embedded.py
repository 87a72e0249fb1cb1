"""Embedded mode: the embedded TF Serving work-alike (+ a local Prometheus, Alertmanager and the
webhook receiver) in the background, configured from the same compose/ files as the compose stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedded_tfserving.errors import StartupError
from embedded_tfserving.process import ServerProcess

from . import alertmanager, compose_file, processes
from .errors import StackError
from .ports import require_free
from .project import Project, require_published_model
from .prometheus import is_ready, prometheus_binary, prometheus_process, write_local_config

SERVER = "server"
PROMETHEUS = "prometheus"
ALERTMANAGER = "alertmanager"
RECEIVER = "alert-receiver"
# `stop` stops the scrapers and senders before what they talk to, so none logs errors on the way out.
STOP_ORDER = (PROMETHEUS, ALERTMANAGER, RECEIVER, SERVER)


def tfserving_service(project: Project) -> dict[str, Any]:
    service: dict[str, Any] = compose_file.load(project)["services"]["tfserving"]
    return service


def volume_map(service: dict[str, Any], compose_dir: Path) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts (relative to compose/)."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("."):
            mounts[container] = (compose_dir / host).resolve()
    return mounts


def server_flags(project: Project, *, grpc_port: int | None = None, rest_port: int | None = None,
                 models_dir: Path | None = None, batching: bool = True,
                 file_system_poll_seconds: int | None = None) -> list[str]:
    """tensorflow_model_server flags for the embedded server, from the compose tfserving service.

    Config paths under /config/... become the compose/ files they are mounted from, and the
    models mount becomes --base_path_map, so models.config is read unchanged. Ports default to
    .env's; the load-test scenarios pass 0 (free ports), their own models folder, batching off
    or on and a faster poll.
    """
    service = tfserving_service(project)
    mounts = volume_map(service, project.compose_dir)
    grpc_port = project.port("GRPC_PORT") if grpc_port is None else grpc_port
    rest_port = project.port("REST_PORT") if rest_port is None else rest_port
    flags = [f"--port={grpc_port}", f"--rest_api_port={rest_port}"]
    for flag in service["command"]:
        name, sep, value = flag.partition("=")
        if not batching and name in ("--enable_batching", "--batching_parameters_file"):
            continue
        if name == "--file_system_poll_wait_seconds" and file_system_poll_seconds is not None:
            value = str(file_system_poll_seconds)
        flags.append(f"{name}={mounts.get(value, value)}" if sep else flag)
    # The compose file mounts ../models; MODELS_DIR (or the caller) may point the server elsewhere.
    models_mount = next(c for c, h in mounts.items() if h == (project.root / "models").resolve())
    flags.append(f"--base_path_map={models_mount}={(models_dir or project.models_dir).resolve()}")
    return flags


@dataclass(frozen=True)
class Urls:
    rest: str
    grpc: str
    metrics: str
    prometheus: str | None
    alertmanager: str | None = None
    alert_receiver: str | None = None  # GET lists the notifications


def urls(project: Project, with_prometheus: bool, tls: bool = False, with_alertmanager: bool = False) -> Urls:
    """Where the stack answers on this machine (the compose stack publishes the same ports)."""
    rest = f"{'https' if tls else 'http'}://127.0.0.1:{project.port('REST_PORT')}"
    return Urls(
        rest=rest,
        grpc=f"127.0.0.1:{project.port('GRPC_PORT')}",
        metrics=f"{rest}/monitoring/prometheus/metrics",
        prometheus=f"http://127.0.0.1:{project.port('PROMETHEUS_PORT')}" if with_prometheus else None,
        alertmanager=f"http://127.0.0.1:{project.port('ALERTMANAGER_PORT')}" if with_alertmanager else None,
        alert_receiver=f"http://127.0.0.1:{project.port('ALERT_WEBHOOK_PORT')}/alerts" if with_alertmanager else None,
    )


def running(project: Project) -> list[processes.Recorded]:
    return [r for r in processes.recorded(project.run_dir) if r.process() is not None]


def start(project: Project, *, timeout: float = 180, with_prometheus: bool = True, scrape_interval: str | None = None,
          alert_timing: Mapping[str, str] | None = None) -> Urls:
    """Start the server and, if installed, Prometheus, and with it Alertmanager and the webhook
    receiver; return once the model is AVAILABLE and each of them answers.

    scrape_interval overrides the one of compose/prometheus.yml (tests use 1s); alert_timing the
    route timing of compose/alertmanager.yml (see alertmanager.local_config).
    """
    require_published_model(project)
    if running(project):
        raise StackError(f"the embedded stack already runs (pid files in {project.run_dir}): `make stop` first")
    binary = prometheus_binary() if with_prometheus else None
    # Alertmanager only receives what Prometheus sends: without Prometheus it has nothing to do.
    alertmanager_binary = alertmanager.alertmanager_binary() if binary else None
    ports = {"REST_PORT": project.port("REST_PORT"), "GRPC_PORT": project.port("GRPC_PORT")}
    if binary:
        ports["PROMETHEUS_PORT"] = project.port("PROMETHEUS_PORT")
    if alertmanager_binary:
        ports["ALERTMANAGER_PORT"] = project.port("ALERTMANAGER_PORT")
        ports["ALERT_WEBHOOK_PORT"] = project.port("ALERT_WEBHOOK_PORT")
    require_free(ports)

    found = urls(project, with_prometheus=bool(binary), with_alertmanager=bool(alertmanager_binary))
    try:
        # Each child is recorded as soon as it runs, so `stop` finds it whatever happens next.
        server = ServerProcess(server_flags(project), project.run_dir / f"{SERVER}.log", cwd=project.root, detach=True)
        processes.record(SERVER, server.spawn(), project.run_dir)
        server.wait_ready(timeout)
        if alertmanager_binary:
            start_alerting(project, alertmanager_binary, alert_timing)
        if binary:
            port = project.port("PROMETHEUS_PORT")
            config = write_local_config(project, project.run_dir / "prometheus.yml", scrape_interval,
                                        with_alertmanager=bool(alertmanager_binary))
            prometheus = prometheus_process(binary, config, project.run_dir / "prometheus-data", port,
                                            project.run_dir / f"{PROMETHEUS}.log", cwd=project.root, detach=True)
            processes.record(PROMETHEUS, prometheus.spawn(), project.run_dir)
            prometheus.wait_until(lambda: is_ready(port), 60, "Prometheus")
    except StartupError as error:
        stop(project)  # leave nothing half-started behind
        raise StackError(f"{error} (raise --timeout if the model is large)") from None
    except BaseException:
        stop(project)
        raise
    return found


def start_alerting(project: Project, binary: str, timing: Mapping[str, str] | None) -> None:
    """The webhook receiver, then the Alertmanager that notifies it (both recorded)."""
    receiver_port, port = project.port("ALERT_WEBHOOK_PORT"), project.port("ALERTMANAGER_PORT")
    receiver = alertmanager.receiver_process(project, project.run_dir / f"{RECEIVER}.log", detach=True)
    processes.record(RECEIVER, receiver.spawn(), project.run_dir)
    receiver.wait_until(lambda: alertmanager.receiver_is_ready(receiver_port), 60, "the alert receiver")
    config = alertmanager.write_local_config(project, project.run_dir / "alertmanager.yml", timing)
    manager = alertmanager.alertmanager_process(binary, config, project.run_dir / "alertmanager-data", port,
                                                project.run_dir / f"{ALERTMANAGER}.log", cwd=project.root, detach=True)
    processes.record(ALERTMANAGER, manager.spawn(), project.run_dir)
    manager.wait_until(lambda: alertmanager.is_ready(port), 60, "Alertmanager")


def stop(project: Project) -> list[str]:
    """Stop what `start` recorded, in STOP_ORDER (anything else recorded last)."""
    stopped = []
    order = {name: rank for rank, name in enumerate(STOP_ORDER)}
    records = sorted(processes.recorded(project.run_dir), key=lambda r: order.get(r.name, len(order)))
    for entry in records:
        if processes.stop(entry, project.run_dir):
            stopped.append(f"{entry.name} (pid {entry.pid})")
    return stopped
