"""Port checks done before starting anything, so a clash names the port and its owner."""

from __future__ import annotations

import socket

import psutil

from .errors import StackError


def port_owner(port: int) -> str | None:
    """'name (pid N)' of the process listening on `port`, when the OS tells us."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            try:
                return f"{psutil.Process(conn.pid).name()} (pid {conn.pid})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return None


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind `port` now. Checked the way servers bind (SO_REUSEADDR, as
    Prometheus, aiohttp and gRPC do), so connections of a just-stopped server lingering in
    TIME_WAIT do not count as a listener; only a socket that listens does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free(ports: dict[str, int]) -> None:
    """Fail with one message listing every port (by .env name) already taken."""
    taken = []
    for name, port in ports.items():
        if not is_free(port):
            owner = port_owner(port)
            taken.append(f"{name}={port} is in use" + (f" by {owner}" if owner else ""))
    if taken:
        raise StackError(
            "; ".join(taken) + ": stop that process (`make stop` if it is this project's) "
            "or choose other ports in .env"
        )
