"""Embedded mode: the package's own TF Serving-compatible server (+ a local Prometheus) in the
background, configured from the same compose/ files TF Serving reads in Docker.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from . import processes
from .errors import StackError
from .ports import require_free
from .project import Project, require_published_model
from .prometheus import prometheus_binary, prometheus_command, write_local_config

SERVER = "server"
PROMETHEUS = "prometheus"
PACKAGE = __package__.rsplit(".", 1)[0]
# The folder holding the package: on PYTHONPATH so `python -m <package>.serving` works from any cwd.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]


def tfserving_service(project: Project) -> dict[str, Any]:
    compose = yaml.safe_load(project.compose_file.read_text())
    return compose["services"]["tfserving"]


def volume_map(service: dict[str, Any], compose_dir: Path) -> dict[str, Path]:
    """Container path -> host path of the service's bind mounts (relative to compose/)."""
    mounts = {}
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith("."):
            mounts[container] = (compose_dir / host).resolve()
    return mounts


def server_flags(project: Project) -> list[str]:
    """tensorflow_model_server flags for the embedded server, from the compose tfserving service.

    Config paths under /config/... become the compose/ files they are mounted from, and the
    models mount becomes --base_path_map so models.config is read unchanged.
    """
    service = tfserving_service(project)
    mounts = volume_map(service, project.compose_dir)
    flags = [f"--port={project.port('GRPC_PORT')}", f"--rest_api_port={project.port('REST_PORT')}"]
    for flag in service["command"]:
        name, sep, value = flag.partition("=")
        flags.append(f"{name}={mounts[value]}" if sep and value in mounts else flag)
    # The compose file mounts ../models; MODELS_DIR may point the embedded server elsewhere.
    models_mount = next(c for c, h in mounts.items() if h == (project.root / "models").resolve())
    flags.append(f"--base_path_map={models_mount}={project.models_dir}")
    return flags


@dataclass(frozen=True)
class Urls:
    rest: str
    grpc: str
    metrics: str
    prometheus: str | None


def urls(project: Project, with_prometheus: bool) -> Urls:
    rest = f"http://127.0.0.1:{project.port('REST_PORT')}"
    return Urls(
        rest=rest,
        grpc=f"127.0.0.1:{project.port('GRPC_PORT')}",
        metrics=f"{rest}/monitoring/prometheus/metrics",
        prometheus=f"http://127.0.0.1:{project.port('PROMETHEUS_PORT')}" if with_prometheus else None,
    )


def model_available(rest_url: str, model_name: str) -> bool:
    try:
        reply = requests.get(f"{rest_url}/v1/models/{model_name}", timeout=2)
    except requests.RequestException:
        return False
    return reply.ok and any(v.get("state") == "AVAILABLE" for v in reply.json().get("model_version_status", []))


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def running(project: Project) -> list[processes.Recorded]:
    return [r for r in processes.recorded(project.run_dir) if r.process() is not None]


def start(project: Project, *, timeout: float = 180, with_prometheus: bool = True, scrape_interval: str | None = None) -> Urls:
    """Start the server and, if installed, Prometheus; return once the model is AVAILABLE.

    scrape_interval overrides the one of compose/prometheus.yml (tests use 1s).
    """
    require_published_model(project)
    if running(project):
        raise StackError(f"the embedded stack already runs (pid files in {project.run_dir}): `make stop` first")
    binary = prometheus_binary() if with_prometheus else None
    ports = {"REST_PORT": project.port("REST_PORT"), "GRPC_PORT": project.port("GRPC_PORT")}
    if binary:
        ports["PROMETHEUS_PORT"] = project.port("PROMETHEUS_PORT")
    require_free(ports)

    found = urls(project, with_prometheus=bool(binary))
    cmd = [sys.executable, "-m", f"{PACKAGE}.serving", *server_flags(project)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))}
    popen, record = processes.spawn(SERVER, cmd, cwd=project.root, run_dir=project.run_dir, env=env)
    try:
        processes.wait_until(
            lambda: model_available(found.rest, project.model_name), popen, timeout,
            f"the embedded server (model {project.model_name})", record.log,
        )
        if binary:
            config = write_local_config(project, project.run_dir / "prometheus.yml", scrape_interval)
            cmd = prometheus_command(binary, config, project.run_dir / "prometheus-data", project.port("PROMETHEUS_PORT"))
            popen, record = processes.spawn(PROMETHEUS, cmd, cwd=project.root, run_dir=project.run_dir)
            processes.wait_until(lambda: http_ok(f"{found.prometheus}/-/ready"), popen, 60, "Prometheus", record.log)
    except BaseException:
        stop(project)  # leave nothing half-started behind
        raise
    return found


def stop(project: Project) -> list[str]:
    """Stop what `start` recorded (Prometheus first, so it does not log scrape errors)."""
    stopped = []
    records = sorted(processes.recorded(project.run_dir), key=lambda r: r.name != PROMETHEUS)
    for record in records:
        if processes.stop(record, project.run_dir):
            stopped.append(f"{record.name} (pid {record.pid})")
    return stopped
