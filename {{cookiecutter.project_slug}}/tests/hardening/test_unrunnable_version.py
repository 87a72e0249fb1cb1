"""A version TF Serving cannot run (a Keras 3 model saved inside a tf.Module), published under REST
and gRPC load: the embedded server loads it as TF Serving does (Session, restore, init op, warmup
through Session::Run), so its warmup fails, the load fails with TF Serving's status, and the
serving version keeps every request."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from tensorflow_serving.apis import prediction_service_pb2_grpc

from embedded_tfserving.process import ServerProcess
from tfserving_loadtest.closed_loop import Load, Recorder

from {{ cookiecutter.package_name }}.contract import AVAILABLE, END, version_states
from {{ cookiecutter.package_name }}.export.publish import publish_version
from {{ cookiecutter.package_name }}.loadtest.payloads import grpc_requests, rest_bodies


@pytest.mark.slow
def test_a_version_tf_serving_cannot_run_never_takes_traffic_under_load(published_model, tf_module_export: Path,
                                                                        tmp_path: Path) -> None:
    models = tmp_path / "models"
    publish_version(published_model.base_path / "1", models, published_model.name)
    flags = [f"--model_name={published_model.name}", f"--model_base_path={models / published_model.name}",
             "--file_system_poll_wait_seconds=1", "--max_num_load_retries=0"]
    with ServerProcess(flags, tmp_path / "server.log") as server:
        server.start()
        recorder = Recorder()
        load = Load(server.rest_url, server.grpc_target, published_model.name, rest_bodies(pool=16),
                    grpc_requests(published_model.name, pool=16), recorder, rest_clients=2, grpc_clients=2)
        seen: dict[int, set[str]] = {1: set(), 2: set()}

        async def scenario() -> dict[str, Any]:
            traffic = asyncio.ensure_future(load.run())
            try:
                await asyncio.sleep(1)
                assert await asyncio.to_thread(publish_version, tf_module_export, models, published_model.name) == 2
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    states = await asyncio.to_thread(version_states, server.rest_url, published_model.name)
                    for number, entry in states.items():
                        seen[number].add(entry["state"])
                    if states.get(2, {}).get("state") == END:
                        await asyncio.sleep(1)  # traffic goes on after the failed load
                        return states[2]
                    await asyncio.sleep(0.1)
                raise AssertionError(f"version 2 never ended: {seen}")
            finally:
                load.stop.set()
                await traffic

        failed = asyncio.run(scenario())
        with grpc.insecure_channel(server.grpc_target) as channel:
            reply = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                grpc_requests(published_model.name, pool=1)[0], timeout=30)
    assert reply.model_spec.version.value == 1
    assert AVAILABLE not in seen[2] and seen[1] == {AVAILABLE}, seen
    assert failed["status"]["error_code"] == "FAILED_PRECONDITION", failed
    assert "Could not find variable " in failed["status"]["error_message"], failed
    assert set(recorder.total) == {"ok"} and recorder.total["ok"] > 50, recorder.total
