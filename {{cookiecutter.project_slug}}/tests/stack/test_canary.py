"""`make canary` end to end on the embedded server that `make serve` runs, with its Prometheus: a good
candidate is promoted; an erroring one and one TF Serving cannot run (it fails to load) are rolled
back; refusals change nothing (too little traffic to judge is the rule's, tested on figures in the
toolkit). Through all of it, no request to the stable version fails.
(The rule for a slower canary is tested on figures in the toolkit's tests/test_canary_policy.py: a
candidate made slow here, by sleeping in its graph, holds threads that stable shares, so it measured
the queue behind it rather than itself.)

The tests share one served project and run in file order: each candidate is judged against the
stable version the previous test left.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from embedded_tfserving.process import free_port
from tfserving_loadtest import model_config

from {{ cookiecutter.package_name }}.contract import AVAILABLE, STABLE, published_versions, version_states
from {{ cookiecutter.package_name }}.export.publish import publish_version

from .. import helpers
from ..helpers import copy_project, read_env, require_prometheus_tool

pytestmark = pytest.mark.slow

# 30 requests/s on each label; the window starts once Prometheus (5 s scrapes) has seen the routes. The
# p99 of a few hundred requests on two busy cores is noisy: the same model twice may differ by half.
SHORT = ("--rate 60 --share 0.5 --window 8 --warmup 7 --min-requests 100 --apply-timeout 60 "
         "--max-p99-ratio 2 --p99-slack-ms 20")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, published_model: helpers.PublishedModel) -> Iterator[Path]:
    require_prometheus_tool("prometheus")
    tmp = tmp_path_factory.mktemp("canary")
    models = tmp / "models"
    shutil.copytree(published_model.base_path / str(published_model.version), models / published_model.name / "1")
    # Config changes apply within a second instead of MODEL_CONFIG_POLL_SECONDS's default 30.
    root = copy_project(tmp / "project", models, MODEL_CONFIG_POLL_SECONDS="1", SERVE_MODE="embedded")
    served = make(root, "serve")
    assert served.returncode == 0, served.stdout + served.stderr
    try:
        yield root
    finally:
        make(root, "stop")


def make(root: Path, target: str, *variables: str) -> Any:
    return helpers.make(root, target, "SERVE_MODE=embedded", *variables, timeout=300)


def canary(root: Path, candidate: int, args: str = SHORT) -> tuple[Any, dict[str, Any]]:
    before = set((root / "reports").glob("*-canary"))
    result = make(root, "canary", f"CANDIDATE={candidate}", f"CANARY_ARGS={args}")
    [run_dir] = set((root / "reports").glob("*-canary")) - before
    return result, {**json.loads((run_dir / "summary.json").read_text()), "run_dir": str(run_dir)}


def config(root: Path) -> Any:
    return model_config.read(root / "compose" / "models.config")


def stable_version(root: Path) -> int:
    return model_config.labels(config(root), model_name(root))[STABLE]


def model_name(root: Path) -> str:
    return read_env(root)["MODEL_NAME"]


def rest(root: Path) -> str:
    return f"http://127.0.0.1:{read_env(root)['REST_PORT']}"


def publish(root: Path, source: Path) -> int:
    return publish_version(source, root / "models", model_name(root))


def version_dir(root: Path, version: int) -> Path:
    return published_versions(root / "models" / model_name(root))[version]


def assert_stable_never_failed(summary: dict[str, Any]) -> None:
    for row in summary["locust"] + summary["prometheus"]:
        if row["route"] == STABLE:
            assert row["failures"] == 0, summary
    assert summary["stable_failures"] == 0


def assert_rolled_back(root: Path, result: Any, summary: dict[str, Any], stable: int, candidate: int) -> None:
    assert result.returncode != 0 and f"version {candidate} rolled back" in result.stderr, result.stdout + result.stderr
    assert (summary["decision"], summary["serving_stable"]) == ("rollback", stable), summary
    assert stable_version(root) == stable
    assert model_config.pinned_versions(config(root), model_name(root)) == [stable]
    states = version_states(rest(root), model_name(root))
    assert states[stable]["state"] == AVAILABLE and states.get(candidate, {}).get("state") != AVAILABLE, states


# --- candidates -------------------------------------------------------------------------------------

def failing_candidate(source: Path, target: Path) -> Path:
    """The stable SavedModel behind the same signature, with an assertion that never holds: it loads,
    and fails every request (INVALID_ARGUMENT), as a candidate with a broken graph would."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(source))
    serving = loaded.signatures["serving_default"]
    inputs = serving.structured_input_signature[1]
    module = tf.Module()
    module.model = loaded  # tracked, so its variables are saved

    @tf.function(input_signature=[inputs["dense"], inputs["categorical"]])
    def serve(dense: tf.Tensor, categorical: tf.Tensor) -> dict[str, tf.Tensor]:
        never = tf.debugging.assert_less(tf.reduce_sum(dense) * 0.0, -1.0, message="this candidate always fails")
        with tf.control_dependencies([never]):
            return serving(dense=dense, categorical=categorical)

    module.serve = serve
    tf.saved_model.save(module, str(target), signatures={"serving_default": serve})
    return target


# --- the tests, in order ----------------------------------------------------------------------------

def test_a_good_candidate_is_promoted(served: Path) -> None:
    candidate = publish(served, version_dir(served, 1))  # the same model again: as good as stable
    result, summary = canary(served, candidate)
    assert result.returncode == 0, result.stdout + result.stderr
    assert summary["decision"] == "promote" and summary["decided"], summary
    figures = {row["route"]: row for row in summary["prometheus"]}
    assert figures["stable"]["requests"] >= 100 and figures["canary"]["requests"] >= 100, figures
    assert figures["canary"]["failures"] == 0
    assert_stable_never_failed(summary)
    assert stable_version(served) == candidate
    # The old stable stays loaded beside the new one, for a rollback that is a label move.
    assert model_config.pinned_versions(config(served), model_name(served)) == [1, candidate]
    assert "promote: version" in result.stdout + result.stderr and (Path(summary["run_dir"]) / "report.html").is_file()


def test_a_candidate_that_errors_is_rolled_back(served: Path, tmp_path: Path) -> None:
    stable = stable_version(served)
    candidate = publish(served, failing_candidate(version_dir(served, stable), tmp_path / "failing"))
    result, summary = canary(served, candidate)
    assert_rolled_back(served, result, summary, stable, candidate)
    assert any("error ratio 1.0000" in reason for reason in summary["reasons"]), summary
    assert {row["route"]: row["failures"] for row in summary["locust"]}["canary"] > 0
    assert_stable_never_failed(summary)


def test_a_candidate_tf_serving_cannot_run_is_rolled_back_without_load(served: Path, tf_module_export: Path) -> None:
    # A Keras 3 model saved inside a tf.Module: a complete SavedModel (publishing accepts it) whose variables
    # TF's C++ loader never restores, so its warmup fails in the server's load, as in TF Serving.
    stable = stable_version(served)
    candidate = publish(served, tf_module_export)
    result, summary = canary(served, candidate)
    assert_rolled_back(served, result, summary, stable, candidate)
    assert "failed to load" in summary["reasons"][0] and "Could not find variable" in summary["reasons"][0], summary
    assert summary["locust"] == [], summary


@pytest.mark.parametrize("variables, message", [
    (("CANDIDATE=999",), "version 999 is not published"),
    (("CANARY_ARGS=--prometheus http://127.0.0.1:{port}",), "no Prometheus answers"),
    (("CANDIDATE={stable}",), "is already the stable version"),
])
def test_refusals_change_nothing(served: Path, variables: tuple[str, ...], message: str) -> None:
    before = (served / "compose" / "models.config").read_text()
    reports = set((served / "reports").glob("*"))
    stable = stable_version(served)
    result = make(served, "canary", *(v.format(port=free_port(), stable=stable) for v in variables))
    assert result.returncode != 0 and message in result.stderr, result.stdout + result.stderr
    assert (served / "compose" / "models.config").read_text() == before
    assert set((served / "reports").glob("*")) == reports
    assert requests.get(f"{rest(served)}/v1/models/{model_name(served)}", timeout=5).ok
