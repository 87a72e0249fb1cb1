"""The scale-out stack's balancer (HAProxy, compose/haproxy.cfg) through its runtime API: which
replicas it sends traffic to, how many requests each has in flight and has answered, and draining
one before it stops (BALANCER_ADMIN_PORT on 127.0.0.1)."""

from __future__ import annotations

import csv
import socket
from dataclasses import dataclass

from .errors import StackError
from .project import Project

BACKENDS = ("rest", "grpc")  # compose/haproxy.cfg: one backend per API, the same replicas in both


@dataclass(frozen=True)
class Server:
    backend: str
    name: str  # the server-template slot, e.g. r3
    address: str  # the replica's IP ("" while the slot is free)
    status: str  # UP, DOWN, DRAIN, MAINT, "UP 1/2" while rising...
    in_flight: int  # requests the balancer is waiting on
    answered: int  # requests sent to it since the slot got its address


class Balancer:
    def __init__(self, host: str, port: int, timeout: float = 5.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout

    @classmethod
    def of(cls, project: Project) -> Balancer:
        return cls("127.0.0.1", project.port("BALANCER_ADMIN_PORT"))

    def command(self, line: str) -> str:
        """One runtime API command; the reply (the API closes the connection after it)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as connection:
                connection.sendall(line.encode() + b"\n")
                chunks = []
                while chunk := connection.recv(65536):
                    chunks.append(chunk)
        except OSError as error:
            raise StackError(f"the balancer's runtime API at {self.host}:{self.port} does not answer ({error}): "
                             "is the scale-out stack up (`REPLICAS=3 make serve`)?") from None
        return b"".join(chunks).decode(errors="replace")

    def servers(self) -> list[Server]:
        """Every server slot of both backends that has an address."""
        reply = self.command("show stat").lstrip("# ")
        found = []
        for row in csv.DictReader(reply.splitlines()):
            if row.get("pxname") in BACKENDS and row.get("svname") not in ("BACKEND", "FRONTEND"):
                address = (row.get("addr") or "").rpartition(":")[0]
                if address:
                    found.append(Server(backend=row["pxname"], name=row["svname"], address=address,
                                        status=row.get("status", ""), in_flight=int(row.get("scur") or 0),
                                        answered=int(row.get("stot") or 0)))
        return found

    def ready_addresses(self) -> set[str]:
        """The replicas that take traffic on both APIs."""
        up = [{s.address for s in self.servers() if s.backend == backend and s.status == "UP"} for backend in BACKENDS]
        return up[0] & up[1]

    def drain(self, address: str) -> list[tuple[str, str]]:
        """No new requests to the replica at `address` (those in flight finish); the slots drained."""
        slots = [(s.backend, s.name) for s in self.servers() if s.address == address]
        for slot in slots:
            self._set(slot, "drain")
        return slots

    def reopen(self, slots: list[tuple[str, str]]) -> None:
        """Undo `drain` on these slots once their replica is gone, so that a replica DNS later puts
        there takes traffic when its checks pass."""
        for slot in slots:
            self._set(slot, "ready")

    def _set(self, slot: tuple[str, str], state: str) -> None:
        reply = self.command(f"set server {slot[0]}/{slot[1]} state {state}").strip()
        if reply:
            raise StackError(f"the balancer refused to set {slot[0]}/{slot[1]} {state}: {reply}")

    def in_flight(self, address: str) -> int:
        return sum(s.in_flight for s in self.servers() if s.address == address)
