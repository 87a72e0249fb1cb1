"""The scale-out stack on a real Docker engine (`REPLICAS=3 make serve`): three replicas behind the
HAProxy balancer, REST and gRPC balanced per request, a replica that stops answering taken out,
every replica scraped, and `make loadtest-rollout` replacing all three under load with no failed
request. The tests share one stack and run in this order."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import requests
from tensorflow_serving.apis import prediction_service_pb2_grpc

from embedded_tfserving.testing import wait_for
from tfserving_stack import rollout
from tfserving_stack.balancer import Balancer
from tfserving_stack.mode import docker_client

from {{ cookiecutter.package_name }}.contract import grpc_predict_request, rest_predict_body
from {{ cookiecutter.package_name }}.data.schema import Schema
from {{ cookiecutter.package_name }}.data.synthetic import generate
from {{ cookiecutter.package_name }}.export.publish import publish_version

from ..helpers import PublishedModel, make, prometheus_query, read_env
from .support import compose_project, scratch, serve, tear_down

pytestmark = pytest.mark.slow
REPLICAS = 3


@pytest.fixture(scope="module")
def replica_stack(tmp_path_factory: pytest.TempPathFactory, published_model: PublishedModel,
                  local_images: dict[str, str]) -> Iterator[Path]:
    root = compose_project(tmp_path_factory.mktemp("replicas") / "project", published_model, local_images)
    try:
        served = serve(root, REPLICAS=str(REPLICAS))
        assert served.returncode == 0, served.stdout + served.stderr
        assert "compose stack is up (profiles replicas" in served.stdout
        yield root
    finally:
        tear_down(root)
        with docker_client() as client:
            if client.images.list(name=next_image(root)):
                client.images.remove(next_image(root))  # the tag only: the image keeps its own


def next_image(root: Path) -> str:
    """The tag the rollout test gives the local model-server image, as a new server image."""
    return f"localhost/{read_env(root)['COMPOSE_PROJECT_NAME']}/model-server:next"


def answered(root: Path) -> dict[tuple[str, str], int]:
    """(backend, replica address) -> requests the balancer sent there so far."""
    counts: dict[tuple[str, str], int] = {}
    for server in Balancer.of(scratch(root)).servers():
        counts[server.backend, server.address] = counts.get((server.backend, server.address), 0) + server.answered
    return counts


def test_serve_runs_the_replicas_healthy_behind_the_balancer(replica_stack: Path) -> None:
    shown = make(replica_stack, "status")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("compose tfserving-replica: running (healthy)") == REPLICAS, shown.stdout
    assert "compose balancer: running (healthy)" in shown.stdout
    assert f"balancer http://127.0.0.1:{read_env(replica_stack)['BALANCER_PORT']}/stats" in shown.stdout
    project = scratch(replica_stack)
    running = rollout.running(project)
    assert len(running) == REPLICAS
    assert Balancer.of(project).ready_addresses() == {r.address for r in running}
    # Each replica serves the version it was pinned to at `serve`, and only that one.
    for replica in running:
        assert rollout.versions(project, replica) == {1: "AVAILABLE"}


def test_rest_and_grpc_are_balanced_per_request_not_per_connection(replica_stack: Path, schema: Schema,
                                                                   published_model: PublishedModel) -> None:
    env = read_env(replica_stack)
    features = generate(schema, 2, seed=3)
    before = answered(replica_stack)
    with requests.Session() as session:  # one keep-alive connection
        for _ in range(30):
            reply = session.post(f"http://127.0.0.1:{env['REST_PORT']}/v1/models/{published_model.name}:predict",
                                 data=rest_predict_body(features), timeout=30)
            assert reply.status_code == 200, reply.text
    with grpc.insecure_channel(f"127.0.0.1:{env['GRPC_PORT']}") as channel:  # one HTTP/2 connection
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for _ in range(30):
            stub.Predict(grpc_predict_request(published_model.name, features), timeout=30)
    after = answered(replica_stack)
    for backend in ("rest", "grpc"):
        spread = {address for (b, address), count in after.items() if b == backend and count > before.get((b, address), 0)}
        assert len(spread) == REPLICAS, f"{backend}: requests reached {sorted(spread)} only"


def test_every_replica_is_scraped(replica_stack: Path) -> None:
    prometheus = f"http://127.0.0.1:{read_env(replica_stack)['PROMETHEUS_PORT']}"
    addresses = {f"{r.address}:8501" for r in rollout.running(scratch(replica_stack))}
    wait_for(lambda: {s["metric"]["instance"] for s in prometheus_query(prometheus, 'up{job="tfserving"} == 1')}
             == addresses, "Prometheus scraping every replica", 60)


def test_a_replica_that_stops_answering_is_taken_out_and_requests_keep_succeeding(
        replica_stack: Path, schema: Schema, published_model: PublishedModel) -> None:
    project, env = scratch(replica_stack), read_env(replica_stack)
    balancer = Balancer.of(project)
    stuck = rollout.running(project)[0]
    with docker_client() as client:
        container = client.containers.get(stuck.name)
        container.pause()  # its readiness checks time out, as for a replica that hangs
        try:
            wait_for(lambda: not any(s.status.startswith("UP") for s in balancer.servers() if s.address == stuck.address),
                     "the balancer taking it out of both backends", 30)
            with requests.Session() as session:
                for _ in range(20):
                    reply = session.post(f"http://127.0.0.1:{env['REST_PORT']}/v1/models/{published_model.name}:predict",
                                         data=rest_predict_body(generate(schema, 1, seed=4)), timeout=10)
                    assert reply.status_code == 200, reply.text
        finally:
            container.unpause()
    wait_for(lambda: stuck.address in balancer.ready_addresses(), "the balancer taking it back", 30)


def test_rollout_replaces_every_replica_under_load_without_a_failed_request(replica_stack: Path,
                                                                            published_model: PublishedModel) -> None:
    project = scratch(replica_stack)
    old = {r.name for r in rollout.running(project)}
    models = replica_stack / "models"
    assert publish_version(models / published_model.name / "1", models, published_model.name) == 2
    # A new server image too: the local one under another local tag (removed with the stack).
    image = next_image(replica_stack)
    with docker_client() as client:
        client.images.get(read_env(replica_stack)["TFSERVING_IMAGE"]).tag(image)
    done = make(replica_stack, "loadtest-rollout", f"ROLLOUT_ARGS=--users 4 --settle 2 --image {image}", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert {r.image for r in rollout.running(project)} == {image}
    (run_dir,) = (replica_stack / "reports").glob("*-rollout")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["passed"] and summary["version"] == 2
    assert summary["requests"] > 0 and summary["failures"] == 0
    replaced = summary["replacements"]
    assert len(replaced) == REPLICAS and {r["old"] for r in replaced} == old
    for step in replaced:
        # The new replica took traffic before the old one was drained, which then exited by itself.
        assert step["started_s"] < step["ready_s"] <= step["drained_s"] <= step["stopped_s"]
        assert step["exit_code"] == 0 and step["failures"] == 0
    new = {r.name for r in rollout.running(project)}
    assert len(new) == REPLICAS and not new & old
    assert summary["serving_at_end"] == dict.fromkeys(new, True)
    assert {a["replica"] for a in summary["answered_by"] if a["requests"] > 0} == old | new
    for name in ("throughput_timeline.png", "latency_timeline.png", "replicas_timeline.png", "report.html"):
        assert (run_dir / name).is_file(), name


def test_a_rollout_to_a_version_that_does_not_load_leaves_the_replicas_serving(replica_stack: Path,
                                                                               published_model: PublishedModel) -> None:
    project = scratch(replica_stack)
    serving = {r.name for r in rollout.running(project)}
    base = replica_stack / "models" / published_model.name
    shutil.copytree(base / "2", base / ".3")
    (base / ".3" / "saved_model.pb").write_bytes(b"this is not a SavedModel")
    os.rename(base / ".3", base / "3")
    done = make(replica_stack, "loadtest-rollout",
                "ROLLOUT_ARGS=--to-version 3 --ready-timeout 20 --users 2 --settle 1 --reports-dir reports/bad",
                timeout=600)
    assert done.returncode != 0
    assert "was not healthy within 20s, so the new ones were removed and the others left serving" in done.stderr
    (run_dir,) = (replica_stack / "reports" / "bad").glob("*-rollout")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert not summary["passed"] and summary["requests"] > 0 and summary["failures"] == 0
    # Nothing was drained or stopped: the same replicas serve the same version, and no other is left.
    assert {r.name for r in rollout.running(project, stopped_too=True)} == serving
    assert Balancer.of(project).ready_addresses() == {r.address for r in rollout.running(project)}
    for replica in rollout.running(project):
        assert rollout.versions(project, replica) == {2: "AVAILABLE"}


def test_scale_measures_each_replica_count_and_leaves_the_stack_as_it_was(replica_stack: Path) -> None:
    project = scratch(replica_stack)
    done = make(replica_stack, "loadtest-scale",
                "SCALE_ARGS=--counts 1,2 --rounds 1 --level-seconds 4 --users 4 --reports-dir reports/scale", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    (run_dir,) = (replica_stack / "reports" / "scale").glob("*-scale")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [(row["replicas"], row["failures"]) for row in summary["runs"]] == [(1, 0), (2, 0)]
    assert all(row["requests"] > 0 and 0 < row["host_cpu_percent"] <= 100 for row in summary["runs"])
    ratios = {row["replicas"]: row for row in summary["ratios"]}
    assert ratios[1]["rps_vs_fewest"] == 1.0
    assert ratios[2]["rps_vs_fewest"] == round(ratios[2]["median_rps"] / ratios[1]["median_rps"], 2)
    assert (run_dir / "scaling.png").is_file()
    assert len(rollout.running(project)) == REPLICAS
    rollout.wait_until(lambda: len(Balancer.of(project).ready_addresses()) == REPLICAS, "all replicas ready", 30)
