"""The embedded server's memory over many publish-and-unload cycles, under light load: an unloaded
version must give its memory back (manager._unload), so a server that swaps often stays flat."""

from __future__ import annotations

import asyncio
import functools
import shutil
from pathlib import Path

import psutil
import pytest

from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import wait_for
from tfserving_loadtest import versions
from tfserving_loadtest.closed_loop import Load, Recorder

from {{ cookiecutter.package_name }}.contract import AVAILABLE, END, version_states
from {{ cookiecutter.package_name }}.loadtest.payloads import grpc_requests, rest_bodies

CYCLES = 30


def _serves_alone(rest_url: str, model: str, version: int) -> bool:
    """`version` is AVAILABLE and every older version unloaded (END)."""
    states = {number: entry.get("state") for number, entry in version_states(rest_url, model).items()}
    return states.get(version) == AVAILABLE and all(s == END for v, s in states.items() if v != version)


@pytest.mark.slow
def test_rss_stays_flat_over_30_publish_and_unload_cycles(published_model, tmp_path: Path) -> None:
    base_path = tmp_path / "models" / published_model.name
    shutil.copytree(published_model.base_path, base_path)
    flags = [f"--model_name={published_model.name}", f"--model_base_path={base_path}",
             "--file_system_poll_wait_seconds=1"]
    with ServerProcess(flags, tmp_path / "server.log") as server:
        server.start()
        recorder = Recorder()
        load = Load(server.rest_url, server.grpc_target, published_model.name, rest_bodies(pool=16),
                    grpc_requests(published_model.name, pool=16), recorder, rest_clients=1, grpc_clients=1)

        async def cycles() -> list[float]:
            traffic = asyncio.ensure_future(load.run())
            curve = []
            try:
                for _ in range(CYCLES):
                    version = await asyncio.to_thread(versions.publish_copy, versions.newest(base_path), base_path)
                    alone = functools.partial(_serves_alone, server.rest_url, published_model.name, version)
                    await asyncio.to_thread(wait_for, alone, f"version {version} serving alone", 60)
                    curve.append(psutil.Process(server.pid).memory_info().rss / 2**20)
            finally:
                load.stop.set()
                await traffic
            return curve

        curve = asyncio.run(cycles())
    print("server RSS (MB) after each publish-and-unload cycle:", curve)
    assert set(recorder.total) == {"ok"} and recorder.total["ok"] > 100, recorder.total
    assert curve[-1] <= curve[0] * 1.10, curve
