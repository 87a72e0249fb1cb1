"""Overload and faults on loopback, with bounded load (a fixed number of requests or an explicit stop).

Every request is accounted for: OK, an explicit server error, or a transport error seen by the client.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import threading
from pathlib import Path

import pytest

from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import place_version, write_batching_parameters
from tfserving_loadtest.closed_loop import Load, Recorder

from {{ cookiecutter.package_name }}.contract import version_states

from .support import MODEL, model_folder, predict_request

pytestmark = pytest.mark.slow

REST_BODIES = [b'{"instances": [[1.0]]}', b'{"instances": [[2.0], [3.0]]}']
GRPC_REQUESTS = [predict_request([1.0])]


def load(server: ServerProcess, recorder: Recorder, rest: int, grpc: int) -> Load:
    return Load(server.rest_url, server.grpc_target, MODEL, REST_BODIES, GRPC_REQUESTS, recorder, rest, grpc)


def versions(server: ServerProcess) -> dict[int, dict]:
    return version_states(server.rest_url, MODEL, timeout=10)


async def until(predicate, what: str, limit: float = 90) -> None:
    """Poll (in a thread, so the load keeps running) until predicate() holds; fail after `limit` s."""
    for _ in range(int(limit / 0.25)):
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_overload_sheds_with_503_and_recovers(slow_tf1_version, tmp_path: Path) -> None:
    """64 closed-loop clients against one batch thread and a one-batch queue: the excess is refused at
    once (503 / UNAVAILABLE) instead of queueing without bound; afterwards everything succeeds."""
    batching = write_batching_parameters(tmp_path / "batching.conf", max_batch_size=2, batch_timeout_micros=0,
                                         max_enqueued_batches=1, num_batch_threads=1)
    flags = ["--port=0", f"--model_name={MODEL}", f"--model_base_path={model_folder(tmp_path, slow_tf1_version)}",
             "--enable_batching", f"--batching_parameters_file={batching}"]
    with ServerProcess(flags, log_path=tmp_path / "server.log") as server:
        server.start()
        overload = Recorder()
        asyncio.run(load(server, overload, 32, 32).run(requests_per_client=8))
        assert set(overload.total) <= {"ok", "rest_503", "grpc_UNAVAILABLE"}, overload.total
        assert overload.total["ok"] > 0 and overload.total["rest_503"] + overload.total["grpc_UNAVAILABLE"] > 0
        assert sum(overload.total.values()) == 64 * 8  # every request answered
        calm = Recorder()
        asyncio.run(load(server, calm, 1, 1).run(requests_per_client=5))
        assert dict(calm.total) == {"ok": 10}


def test_faults_under_load_lose_no_request(tf1_version, tmp_path: Path) -> None:
    """A new version, the serving version's folder deleted, a corrupt version, an invalid config file:
    all during REST+gRPC load; every request succeeds and the server ends up serving."""
    base = model_folder(tmp_path, tf1_version)
    config = tmp_path / "models.config"
    config.write_text('model_config_list { config { name: "' + MODEL + '" base_path: "' + str(base)
                      + '" model_platform: "tensorflow" } }')
    flags = ["--port=0", f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1",
             "--file_system_poll_wait_seconds=1", "--max_num_load_retries=0"]
    log = tmp_path / "server.log"
    with ServerProcess(flags, log_path=log) as server:
        server.start()
        recorder = Recorder()

        async def scenario() -> None:
            driver = load(server, recorder, 3, 3)
            running = asyncio.ensure_future(driver.run())
            try:
                place_version(tf1_version, base, 2)
                await until(lambda: versions(server).get(1, {}).get("state") == "END"
                            and versions(server)[2]["state"] == "AVAILABLE", "version 2 to replace 1")
                shutil.rmtree(base / "2")  # the serving version's folder disappears: back to 1
                await until(lambda: versions(server)[1]["state"] == "AVAILABLE"
                            and versions(server)[2]["state"] == "END", "version 1 to serve again")
                corrupt = base / ".tmp-3"
                corrupt.mkdir()
                (corrupt / "saved_model.pb").write_bytes(b"\x00not a saved model" * 100)
                corrupt.rename(base / "3")
                await until(lambda: versions(server).get(3, {}).get("state") == "END", "version 3 to fail")
                assert versions(server)[3]["status"]["error_code"] != "OK"
                assert versions(server)[1]["state"] == "AVAILABLE"
                config.write_text("model_config_list { this is not a text proto")
                await until(lambda: "Not applying" in log.read_text(errors="replace"), "the bad config to be logged")
                await asyncio.sleep(1.5)  # a couple more polls with the bad file in place
            finally:
                driver.stop.set()
                await running

        asyncio.run(scenario())
        assert set(recorder.total) == {"ok"}, recorder.total
        assert recorder.total["ok"] > 100
        assert versions(server)[1]["state"] == "AVAILABLE"


def test_sigterm_drains_in_flight_requests_and_exits(slow_tf1_version, tmp_path: Path) -> None:
    flags = ["--port=0", f"--model_name={MODEL}", f"--model_base_path={model_folder(tmp_path, slow_tf1_version)}"]
    server = ServerProcess(flags, log_path=tmp_path / "server.log")
    try:
        server.start()
        recorder = Recorder()
        driver = load(server, recorder, 4, 2)
        done = threading.Event()

        def drive() -> None:
            asyncio.run(driver.run())
            done.set()

        thread = threading.Thread(target=drive)
        thread.start()
        for _ in range(600):  # let requests be in flight: the first answers have come back
            if recorder.total["ok"] >= 6:
                break
            done.wait(0.1)
        before = recorder.roll()
        server.send_signal(signal.SIGTERM)
        code = server.wait(60)
        driver.stop.set()
        thread.join(60)
        after = recorder.roll()
    finally:
        server.stop()
    assert code == 0
    assert set(before.outcomes) == {"ok"}, before.outcomes
    # Requests in flight at SIGTERM were answered; later ones were refused explicitly (connection errors).
    assert after.outcomes["ok"] > 0, after.outcomes
    assert all(k == "ok" or k.startswith(("rest_Client", "rest_Server", "grpc_UNAVAILABLE")) for k in after.outcomes), \
        after.outcomes
