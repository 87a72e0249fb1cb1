"""free_port: ports that no listener holds and no outgoing connection can take before the server binds."""

from __future__ import annotations

import socket

import pytest

from embedded_tfserving import process


def test_ports_come_from_below_the_ephemeral_range_and_never_twice() -> None:
    low = process._ephemeral_low()
    ports = [process.free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    if low > 11024:
        assert all(10000 <= port < low for port in ports), ports


def test_a_port_with_a_listener_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        spare = process.free_port()
        process._HANDED_OUT.discard(spare)
        monkeypatch.setattr(process, "_ephemeral_low", lambda: 32768)
        monkeypatch.setattr(process.random, "sample", lambda population, k: [taken, spare])
        assert process.free_port() == spare
