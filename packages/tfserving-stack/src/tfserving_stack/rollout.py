"""The steps of a rolling replacement of the scale-out stack's replicas (`make loadtest-rollout`):
the replicas that run, the versions each serves, one more replica on a new version or image, and
one fewer (drained at the balancer first, see balancer.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfserving_loadtest.versions import AVAILABLE, status_entries

from .compose import project_name, run_compose
from .errors import StackError
from .mode import docker_client
from .project import Project
from .replicas import PROFILE, SERVICE

# A shell inside TF Serving's image asking its status API (the image has bash, neither curl nor
# wget): bash's /dev/tcp, with ${MODEL_NAME} left for the caller (readiness probes carry it as it is).
STATUS_REQUEST = r'exec 3<>/dev/tcp/127.0.0.1/8501 && printf "GET /v1/models/${MODEL_NAME} HTTP/1.0\r\n\r\n" >&3'


@dataclass(frozen=True)
class Replica:
    name: str  # the container's, e.g. ctr-serving-tfserving-replica-2
    address: str  # its IP on the compose network, as the balancer knows it
    image: str
    model_config: str  # REPLICA_MODEL_CONFIG it started with
    created: str


def _replica(container: Any) -> Replica:
    networks = container.attrs["NetworkSettings"]["Networks"]
    flags = [arg for arg in container.attrs["Config"].get("Cmd") or [] if arg.startswith("--model_config_file=")]
    return Replica(name=container.name, address=next(iter(networks.values()))["IPAddress"] if networks else "",
                   image=container.attrs["Config"]["Image"], created=container.attrs["Created"],
                   model_config=flags[0].split("/config/", 1)[-1] if flags else "")


def running(project: Project, stopped_too: bool = False) -> list[Replica]:
    """The replicas that run now (and with stopped_too, those that exited or restart), oldest first."""
    filters: dict[str, Any] = {"label": [f"com.docker.compose.project={project_name(project)}",
                                         f"com.docker.compose.service={SERVICE}"]}
    if not stopped_too:
        filters["status"] = "running"
    with docker_client() as client:
        found = client.containers.list(all=stopped_too, filters=filters)
        return sorted((_replica(c) for c in found), key=lambda r: r.created)


def versions(project: Project, replica: Replica) -> dict[int, str]:
    """Version -> state, asked inside the replica (it publishes no port) as its readiness probe asks;
    {} when it does not answer."""
    request = STATUS_REQUEST.replace("${MODEL_NAME}", project.model_name) + " && cat <&3"
    with docker_client() as client:
        code, output = client.containers.get(replica.name).exec_run(["bash", "-c", request])
    if code != 0:
        return {}
    body = output.decode(errors="replace").partition("\r\n\r\n")[2]
    try:
        entries = status_entries(json.loads(body))
    except json.JSONDecodeError:
        return {}
    return {version: entry["state"] for version, entry in entries.items()}


def serves(project: Project, replica: Replica, version: int) -> bool:
    return versions(project, replica).get(version) == AVAILABLE


def scale_to(project: Project, count: int, model_config: str, image: str, timeout: float) -> list[Replica]:
    """Run `count` replicas, leaving those that run as they are (compose removes the newest when
    there are too many), new ones reading `model_config` (a `pin` result) on `image`; wait until
    every replica's healthcheck says its model is AVAILABLE. The new replicas. When one does not
    become healthy, the new ones are removed again and StackError says why."""
    before = {r.name for r in running(project)}
    env = {"REPLICA_MODEL_CONFIG": model_config, "TFSERVING_IMAGE": image}
    deadline = time.monotonic() + timeout
    result = run_compose(project, "up", "-d", "--no-deps", "--no-recreate", "--wait", "--wait-timeout",
                         str(int(timeout)), "--scale", f"{SERVICE}={count}", SERVICE,
                         profiles=[PROFILE], capture=True, env=env)
    new = [r for r in running(project, stopped_too=True) if r.name not in before]
    # Checked here too: compose's --wait once returned 0 here for a replica still "starting".
    if result.returncode == 0 and _healthy(new, deadline):
        return new
    logs = []
    with docker_client() as client:
        for replica in new:
            container = client.containers.get(replica.name)
            logs.append(f"--- {replica.name}:\n" + container.logs(tail=15).decode(errors="replace"))
            container.remove(force=True)
    output = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
    raise StackError(f"a new replica ({image}, /config/{model_config}) was not healthy within {timeout:.0f}s, so the "
                     f"new ones were removed and the others left serving:\n{output}\n" + "\n".join(logs))


def _healthy(replicas: list[Replica], deadline: float) -> bool:
    """Whether every one of `replicas` is healthy by `deadline` (time.monotonic())."""
    with docker_client() as client:
        while True:
            states = [client.containers.get(r.name).attrs["State"].get("Health", {}).get("Status") for r in replicas]
            if all(state == "healthy" for state in states):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)


def add_one(project: Project, model_config: str, image: str, timeout: float) -> Replica:
    """One more replica (see scale_to); the new one."""
    (new,) = scale_to(project, len(running(project)) + 1, model_config, image, timeout)
    return new


def remove(replica: Replica, grace_seconds: float = 30) -> int:
    """Stop the replica (SIGTERM; SIGKILL after the grace period, as TF Serving ignores SIGTERM)
    and remove its container; its exit code (0: it drained and exited by itself)."""
    with docker_client() as client:
        container = client.containers.get(replica.name)
        container.stop(timeout=int(grace_seconds))
        container.reload()
        code = int(container.attrs["State"]["ExitCode"])
        container.remove()
    return code


def wait_until(condition: Callable[[], bool], what: str, timeout: float, interval: float = 0.25) -> float:
    """Poll `condition` until true; the seconds it took. StackError naming `what` on timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise StackError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(interval)
    return time.monotonic() - started
