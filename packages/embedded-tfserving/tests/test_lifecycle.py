"""Version lifecycle: a new version swaps in under load without losing a request, and a corrupt
version is reported in status and metrics while the previous one keeps serving."""

from __future__ import annotations

import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from embedded_tfserving.errors import StartupError
from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import place_version, wait_for, write_tf1_model

pytestmark = pytest.mark.slow


def states(server: ServerProcess) -> dict[str, dict]:
    reply = requests.get(f"{server.rest_url}/v1/models/m", timeout=10).json()
    return {v["version"]: v for v in reply["model_version_status"]}


def place_corrupt_version(tmp_path: Path, base: Path, version: int) -> Path:
    """base/<version> whose saved_model.pb is not a SavedModel, renamed into place."""
    corrupt = tmp_path / f"v{version}"
    corrupt.mkdir()
    (corrupt / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    return place_version(corrupt, base, version)


def test_swap_under_load_then_corrupt_version(tf1_model: Path, tmp_path: Path) -> None:
    base = tmp_path / "models" / "m"
    place_version(tf1_model, base, 1)
    write_tf1_model(tmp_path / "v2", b=3.0)  # y = 0.5x + 3: tells the versions apart
    (tmp_path / "monitoring.config").write_text('prometheus_config { enable: true path: "/metrics" }')
    flags = ["--model_name=m", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1",
             "--max_num_load_retries=0", f"--monitoring_config_file={tmp_path / 'monitoring.config'}"]
    with ServerProcess(flags, log_path=tmp_path / "server.log") as server:
        server.start()
        url = f"{server.rest_url}/v1/models/m:predict"
        stop, seen, failures = threading.Event(), set(), []

        def hammer() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    reply = session.post(url, json={"instances": [[1.0]]}, timeout=60)
                    if reply.status_code != 200:
                        failures.append(reply.text)
                    else:
                        seen.add(reply.json()["predictions"][0][0])

        with ThreadPoolExecutor(4) as pool:
            workers = [pool.submit(hammer) for _ in range(4)]
            wait_for(lambda: 2.5 in seen, "answers from version 1")
            place_version(tmp_path / "v2", base, 2)
            wait_for(lambda: states(server).get("1", {}).get("state") == "END", "version 1 to unload")
            seen.clear()
            wait_for(lambda: 3.5 in seen, "answers from version 2")
            stop.set()
            for worker in workers:
                worker.result()
        assert failures == []
        assert 2.5 not in seen  # after the swap, `latest` is version 2 only
        assert states(server)["2"]["state"] == "AVAILABLE"

        place_corrupt_version(tmp_path, base, 3)
        wait_for(lambda: states(server).get("3", {}).get("state") == "END", "version 3 to fail")
        status = states(server)["3"]["status"]
        assert status["error_code"] != "OK" and status["error_message"]
        assert requests.post(url, json={"instances": [[1.0]]}, timeout=30).json() == {"predictions": [[3.5]]}
        page = requests.get(f"{server.rest_url}/metrics", timeout=10).text
        failed = ":tensorflow:cc:saved_model:load_attempt_count" + "{" + f'model_path="{base / "3"}",status="fail"' + "} 1"
        assert failed in page
        assert server.stop() == 0  # SIGTERM: graceful shutdown, exit code 0


def test_startup_fails_clearly_when_nothing_loads(tmp_path: Path) -> None:
    (tmp_path / "m" / "1").mkdir(parents=True)  # a version folder without saved_model.pb
    server = ServerProcess(["--model_name=m", f"--model_base_path={tmp_path / 'm'}", "--max_num_load_retries=0"],
                            log_path=tmp_path / "server.log")
    with pytest.raises(StartupError, match="model m has no version that loaded"):
        server.start(timeout=120)


def test_a_retrying_load_does_not_hold_up_new_versions_or_config_polls(tf1_model: Path, tmp_path: Path) -> None:
    # A corrupt version retried for minutes must not stop the file-system poll from loading the next
    # version, while the config file is polled too (server_core.cc AddModelsViaModelConfigList waits
    # only for the models a config adds, not for new versions of those it already serves)
    base = tmp_path / "models" / "m"
    place_version(tf1_model, base, 1)
    config = tmp_path / "models.config"
    # Every version stays aspired (policy "all"), so version 2 goes on retrying once version 3 is there.
    config.write_text('model_config_list { config { name: "m" base_path: "' + str(base) + '" model_platform: "tensorflow" '
                      'model_version_policy { all {} } } }')
    flags = [f"--model_config_file={config}", "--model_config_file_poll_wait_seconds=1", "--file_system_poll_wait_seconds=1",
             "--max_num_load_retries=1000", "--load_retry_interval_micros=2000000"]
    with ServerProcess(flags, log_path=tmp_path / "server.log") as server:
        server.start()
        place_corrupt_version(tmp_path, base, 2)
        wait_for(lambda: states(server).get("2", {}).get("state") == "LOADING", "version 2 to be retried")
        write_tf1_model(tmp_path / "v3", b=3.0)
        place_version(tmp_path / "v3", base, 3)
        wait_for(lambda: states(server).get("3", {}).get("state") == "AVAILABLE", "version 3 to load", timeout=30)
        reply = requests.post(f"{server.rest_url}/v1/models/m:predict", json={"instances": [[1.0]]}, timeout=30)
        assert reply.json() == {"predictions": [[3.5]]}
        assert states(server)["2"]["state"] == "LOADING"  # still retrying: it did not hold version 3 up


def failed_attempts(server: ServerProcess, version_dir: Path) -> float:
    families = text_string_to_metric_families(requests.get(f"{server.rest_url}/monitoring/prometheus/metrics",
                                                           timeout=10).text)
    return sum(sample.value for family in families for sample in family.samples
               if sample.labels.get("model_path") == str(version_dir) and sample.labels.get("status") == "fail")


def test_a_version_no_longer_aspired_stops_retrying_its_load(tf1_model: Path, tmp_path: Path) -> None:
    # aspired_versions_manager.cc cancels the load retries of a version that leaves the aspired set
    # (CancelLoadServableRetry): a corrupt version removed from disk is not retried for minutes on.
    base = tmp_path / "models" / "m"
    place_version(tf1_model, base, 1)
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }')
    flags = ["--model_name=m", f"--model_base_path={base}", "--file_system_poll_wait_seconds=1",
             f"--monitoring_config_file={monitoring}",
             "--max_num_load_retries=1000", "--load_retry_interval_micros=1000000"]
    with ServerProcess(flags, log_path=tmp_path / "server.log") as server:
        server.start()
        place_corrupt_version(tmp_path, base, 2)
        wait_for(lambda: failed_attempts(server, base / "2") >= 2, "version 2 to be retried")
        shutil.rmtree(base / "2")
        wait_for(lambda: "2" not in states(server), "version 2 to end and leave the status", timeout=20)
        ended_after = failed_attempts(server, base / "2")
        time.sleep(3)  # three retry intervals
        assert failed_attempts(server, base / "2") == ended_after
        assert states(server) == {"1": {"version": "1", "state": "AVAILABLE",
                                        "status": {"error_code": "OK", "error_message": ""}}}
