"""Compose mode: `docker compose` drives the stack; the docker SDK reads container state and logs.

Every command runs from the project root as
  docker compose --env-file .env -f compose/docker-compose.yml --profile cpu|gpu ...
so compose interpolates ${...} from the project's .env and resolves paths relative to compose/.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

from ..errors import StackError
from .project import Project, require_published_model


def compose_command(project: Project, *args: str) -> list[str]:
    profile = "gpu" if project.use_gpu else "cpu"
    return [
        "docker", "compose", "--env-file", str(project.root / ".env"),
        "-f", str(project.compose_file), "--profile", profile, *args,
    ]


def project_name(project: Project) -> str:
    return project.setting("COMPOSE_PROJECT_NAME")


def require_compose_plugin() -> None:
    try:
        found = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True).returncode == 0
    except FileNotFoundError:
        found = False
    if not found:
        raise StackError(
            "a Docker engine answers but `docker compose` is not installed: install the Docker "
            "Compose plugin (package docker-compose-plugin), or use SERVE_MODE=embedded"
        )


@dataclass(frozen=True)
class Container:
    service: str
    name: str
    status: str
    health: str | None


def containers(project: Project) -> list[Container]:
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={project_name(project)}"})
        return [
            Container(
                service=c.labels.get("com.docker.compose.service", "?"),
                name=c.name,
                status=c.status,
                health=c.attrs.get("State", {}).get("Health", {}).get("Status"),
            )
            for c in found
        ]
    finally:
        client.close()


def service_logs(project: Project, service: str, lines: int = 40) -> str:
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": [
            f"com.docker.compose.project={project_name(project)}", f"com.docker.compose.service={service}",
        ]})
        return "\n".join(c.logs(tail=lines).decode(errors="replace") for c in found) or "(no logs)"
    finally:
        client.close()


def up(project: Project, timeout: float) -> None:
    require_published_model(project)
    require_compose_plugin()
    cmd = compose_command(project, "up", "-d", "--wait", "--wait-timeout", str(int(timeout)))
    if subprocess.run(cmd, cwd=project.root).returncode != 0:
        service = "tfserving-gpu" if project.use_gpu else "tfserving"
        raise StackError(
            f"`{' '.join(cmd[:2])} ... up` failed; last lines of the {service} container:\n"
            + service_logs(project, service)
        )


def down(project: Project) -> bool:
    """Stop and remove the project's containers (volumes with Prometheus/Grafana data stay)."""
    if not containers(project):
        return False
    require_compose_plugin()
    subprocess.run(compose_command(project, "--profile", "loadtest", "down"), cwd=project.root, check=True)
    return True
