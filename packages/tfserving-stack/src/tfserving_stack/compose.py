"""Compose mode: `docker compose` drives the stack; the docker SDK reads container state and logs.

Every command runs from the project root as
  docker compose --env-file .env -f compose/docker-compose.yml --profile ... ...
so compose interpolates ${...} from the project's .env (the environment wins, as everywhere) and
resolves paths relative to compose/. `up` starts nothing until every image it needs is here or
pullable and every port it publishes is free; if the stack does not become healthy, it is taken
down again: never half up.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import compose_file, images, replicas
from .errors import StackError
from .mode import docker_client, require_compose_plugin
from .ports import require_free
from .project import Project, require_published_model

# Every profile of the compose file: `down` names them all, so it removes whatever runs.
ALL_PROFILES = ("cpu", "gpu", "secure", "replicas", "grafana", "loadtest")
PORT_SETTINGS = ("REST_PORT", "GRPC_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "ALERT_WEBHOOK_PORT", "GRAFANA_PORT",
                 "BALANCER_PORT", "BALANCER_ADMIN_PORT")
# Runs on the project's Python image (LOCUST_IMAGE), which upstream registries do not have: left
# out (said) when it is not built, rather than keeping the whole stack down.
RECEIVER = "alert-receiver"
Say = Callable[[str], None]


def compose_command(project: Project, *args: str, profiles: Sequence[str] = ()) -> list[str]:
    flags = [flag for profile in profiles for flag in ("--profile", profile)]
    return ["docker", "compose", "--env-file", str(project.root / ".env"), "-f", str(project.compose_file), *flags, *args]


def run_compose(project: Project, *args: str, profiles: Sequence[str] = (), capture: bool = False,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`docker compose ...` with the project's settings (compose gives the environment precedence
    over --env-file, so they are passed as the environment), the profiles given here rather than
    COMPOSE_PROFILES, and `env` on top (LOCUST_MASTER_OPTIONS, say)."""
    env = {key: value for key, value in {**os.environ, **project.env, **(env or {})}.items() if key != "COMPOSE_PROFILES"}
    return subprocess.run(compose_command(project, *args, profiles=profiles), cwd=project.root, env=env,
                          capture_output=capture, text=True)


def project_name(project: Project) -> str:
    return project.setting("COMPOSE_PROJECT_NAME")


def profiles(project: Project) -> list[str]:
    """COMPOSE_PROFILES (the environment, else .env): exactly one of cpu, gpu, secure or replicas, and
    grafana. REPLICAS above 1 turns cpu into replicas."""
    default = "gpu" if project.use_gpu else "cpu"
    chosen = [p.strip() for p in project.env.get("COMPOSE_PROFILES", default).split(",") if p.strip()]
    unknown = sorted(set(chosen) - set(ALL_PROFILES))
    servers = [p for p in chosen if p in compose_file.SERVER_PROFILES]
    if unknown or len(servers) != 1:
        raise StackError(f"COMPOSE_PROFILES={','.join(chosen)!r} must name exactly one of cpu, gpu, secure or "
                         f"replicas (which TF Serving runs), plus grafana or loadtest if wanted")
    count = replicas.count(project)
    if count > 1 and servers[0] != replicas.PROFILE:
        if servers[0] != "cpu":
            raise StackError(f"REPLICAS={count} runs CPU replicas behind a balancer, which the "
                             f"{servers[0]} profile does not: set REPLICAS=1, or COMPOSE_PROFILES=cpu")
        chosen = [replicas.PROFILE if p == "cpu" else p for p in chosen]
    return chosen


# --- state --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Container:
    service: str
    name: str
    status: str
    health: str | None


def _labelled(project: Project, *labels: str) -> dict[str, list[str]]:
    return {"label": [f"com.docker.compose.project={project_name(project)}", *labels]}


def containers(project: Project) -> list[Container]:
    with docker_client() as client:
        found = client.containers.list(all=True, filters=_labelled(project))
    return [
        Container(
            service=c.labels.get("com.docker.compose.service", "?"),
            name=c.name,
            status=c.status,
            health=c.attrs.get("State", {}).get("Health", {}).get("Status"),
        )
        for c in found
    ]


def leftovers(project: Project) -> dict[str, list[str]]:
    """The project's containers, networks and volumes that exist now, by kind."""
    filters = _labelled(project)
    with docker_client() as client:
        return {"containers": [c.name for c in client.containers.list(all=True, filters=filters)],
                "networks": [n.name for n in client.networks.list(filters=filters)],
                "volumes": [v.name for v in client.volumes.list(filters=filters)]}


def service_logs(project: Project, service: str, lines: int = 40) -> str:
    with docker_client() as client:
        found = client.containers.list(all=True, filters=_labelled(project, f"com.docker.compose.service={service}"))
        return "\n".join(c.logs(tail=lines).decode(errors="replace") for c in found) or "(no logs)"


# --- up and down --------------------------------------------------------------------------------

def _missing_image_message(project: Project, missing: list[images.Unavailable]) -> str:
    names = "; ".join(f"{m.service}: {m.image} ({m.why})" for m in missing)
    local = "\n".join(f"  {key}={value}" for key, value in images.local_settings(project).items())
    return (f"cannot start the compose stack: these images are neither here nor pullable: {names}. Nothing was "
            "started. Either build local images and point .env at them:\n"
            f"  make images && make use-local-images   (sets in .env:\n{local})\n"
            "or serve without Docker: SERVE_MODE=embedded make serve")


def check_startable(project: Project, chosen: list[str], say: Say) -> tuple[list[str], list[str]]:
    """The profiles to start with and the services to leave out: Grafana and the alert receiver
    left out (said) when their image cannot be had; StackError when another image is missing or a
    port is taken, before anything starts."""
    compose = compose_file.load(project)
    missing = images.unavailable(images.images_of(compose, chosen), project)
    required = [m for m in missing if m.service not in ("grafana", RECEIVER)]
    if required:
        raise StackError(_missing_image_message(project, required))
    for grafana in (m for m in missing if m.service == "grafana"):
        chosen = [p for p in chosen if p != "grafana"]
        say(f"Grafana's image {grafana.image} cannot be had here ({grafana.why}): the stack runs without "
            "Grafana; its dashboards are in dashboards/ for any Grafana")
    left_out = [m.service for m in missing if m.service == RECEIVER]
    for receiver in (m for m in missing if m.service == RECEIVER):
        say(f"the alert receiver's image {receiver.image} is neither here nor pullable ({receiver.why}): the stack runs without "
            "it, so Alertmanager's notifications go nowhere (`make status` still lists the firing alerts); build it "
            f"with `docker compose --env-file .env -f compose/docker-compose.yml build {RECEIVER}`, or use "
            "`make images && make use-local-images`")
    services = {name: service for name, service in compose_file.active_services(compose, chosen).items()
                if name not in left_out}
    names = {project.port(key): key for key in PORT_SETTINGS}
    require_free({names.get(port, f"port {port}"): port
                  for service in services.values() for port in compose_file.published_ports(service)})
    return chosen, left_out


def up(project: Project, timeout: float, say: Say = print) -> list[str]:
    """Start the stack and wait until every service is healthy; the profiles it started."""
    published = require_published_model(project)
    require_compose_plugin()
    chosen, left_out = check_startable(project, profiles(project), say)
    # The alert receiver's bind mount: made here, by the user, or the engine makes it owned by root.
    (project.root / "run").mkdir(exist_ok=True)
    # Services left out are left out by naming the others: compose would pull or build (and fail
    # on) the image of a service it merely scales to 0.
    services = [name for name in compose_file.active_services(compose_file.load(project), chosen)
                if name not in left_out] if left_out else []
    env = {}
    if replicas.PROFILE in chosen:  # every replica starts pinned to the newest version
        env = {"REPLICAS": str(replicas.count(project)), "REPLICA_MODEL_CONFIG": replicas.pin(project, published[-1])}
    result = run_compose(project, "up", "-d", "--wait", "--wait-timeout", str(int(timeout)), *services,
                         profiles=chosen, capture=True, env=env)
    if result.returncode != 0:
        unhealthy = [c for c in containers(project) if c.status != "running" or c.health not in (None, "healthy")]
        logs = "\n".join(f"--- {c.service} ({c.status}, {c.health or 'no healthcheck'}):\n"
                         + service_logs(project, c.service, 25) for c in unhealthy)
        down(project, volumes=False)  # never leave a half-up stack
        output = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise StackError(f"the compose stack did not come up (it was taken down again):\n{output}\n{logs}")
    return chosen


def down(project: Project, volumes: bool = False) -> bool:
    """Remove the project's containers and network (and with `volumes`, its named volumes: the
    Prometheus and Grafana data). False when there was nothing to remove."""
    found = leftovers(project)
    if not found["containers"] and not found["networks"] and not (volumes and found["volumes"]):
        return False
    require_compose_plugin()
    args = ["down", "--remove-orphans", *(["--volumes"] if volumes else [])]
    result = run_compose(project, *args, profiles=ALL_PROFILES, capture=True)
    if result.returncode != 0:
        raise StackError(f"`docker compose down` failed: {(result.stdout + result.stderr).strip()[-2000:]}")
    return True
