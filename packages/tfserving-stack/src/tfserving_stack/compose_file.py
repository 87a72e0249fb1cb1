"""compose/docker-compose.yml as docker compose reads it: `${VAR}`, `${VAR:-default}` and
`${VAR-default}` filled from the project's settings (the environment over .env), `$$` a literal `$`.

The embedded server derives its flags from the file, `serve` the images and ports of the services
it starts, and the tests check it, all without needing the compose plugin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from .project import Project

VARIABLE = re.compile(r"\$(?:\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}|(?P<dollar>\$))")
# The profiles that choose which TF Serving runs; exactly one of them is active.
SERVER_PROFILES = ("cpu", "gpu", "secure", "replicas")


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """compose's variable substitution; an unset variable without a default becomes "" (as compose)."""
    def value(match: re.Match[str]) -> str:
        if match["dollar"]:
            return "$"
        name, op, default = match["name"], match["op"], match["default"] or ""
        current = env.get(name)
        if op == ":-" and not current:
            return default
        if op == "-" and current is None:
            return default
        return current or ""

    return VARIABLE.sub(value, text)


def defaults(text: str) -> dict[str, str]:
    """Variable -> its `${VAR:-default}` default in the file (the upstream image names, say)."""
    return {m["name"]: m["default"] for m in VARIABLE.finditer(text) if m["op"] == ":-"}


def load(project: Project) -> dict[str, Any]:
    """The compose file with the project's settings filled in."""
    loaded: dict[str, Any] = yaml.safe_load(interpolate(project.compose_file.read_text(), project.env))
    return loaded


def active_services(compose: Mapping[str, Any], profiles: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The services `up` starts with these profiles: those without profiles, and those in one of them."""
    wanted = set(profiles)
    return {name: service for name, service in compose["services"].items()
            if not service.get("profiles") or wanted & set(service["profiles"])}


def published_ports(service: Mapping[str, Any]) -> list[int]:
    """Host ports of "127.0.0.1:HOST:CONTAINER" port entries."""
    ports = []
    for entry in service.get("ports", []):
        parts = str(entry).split(":")
        if len(parts) == 3 and parts[1].isdigit():
            ports.append(int(parts[1]))
    return ports
