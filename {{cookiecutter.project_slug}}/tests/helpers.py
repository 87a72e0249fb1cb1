"""Helpers shared by the project's tests: a quickly trained model, scratch projects with free
ports, Criteo-format files, the Prometheus tools and queries, Grafana's variable substitution."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from embedded_tfserving.process import free_port

from {{ cookiecutter.package_name }}.data.schema import Schema, load_schema
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

# Every variable of .env that names a port: scratch projects get free ones.
PORT_SETTINGS = ("REST_PORT", "GRPC_PORT", "PROMETHEUS_PORT", "GRAFANA_PORT", "LOADTEST_METRICS_PORT", "LOCUST_WEB_PORT",
                 "ALERTMANAGER_PORT", "ALERT_WEBHOOK_PORT", "BALANCER_PORT", "BALANCER_ADMIN_PORT")


@dataclass(frozen=True)
class PublishedModel:
    name: str
    models_dir: Path  # the models/ folder: serve it with --model_base_path=<base_path>
    base_path: Path  # models_dir / name
    version: int
    artifacts_dir: Path  # model.keras and evaluation.json it was exported from


def publish_tiny_model(root: Path, name: str, rows: int = 4000, epochs: int = 1, seed: int = 0) -> PublishedModel:
    """Train on a few synthetic rows, export and publish as version 1: the real path, in seconds."""
    from {{ cookiecutter.package_name }}.data.synthetic import generate
    from {{ cookiecutter.package_name }}.export.publish import publish_version
    from {{ cookiecutter.package_name }}.export.savedmodel import export_savedmodel
    from {{ cookiecutter.package_name }}.train import save_artifacts, train_model

    schema = load_schema()
    artifacts_dir = root / "artifacts"
    trained = train_model(schema, generate(schema, rows, seed), epochs=epochs, batch_size=256, seed=seed)
    model_path = save_artifacts(trained, artifacts_dir)
    exported = export_savedmodel(model_path, root / "export", schema, name, trained.evaluation, warmup_requests=20)
    models_dir = root / "models"
    version = publish_version(exported, models_dir, name)
    return PublishedModel(name, models_dir, models_dir / name, version, artifacts_dir)


def export_in_tf_module(model_path: Path, out_dir: Path, schema: Schema, model_name: str, warmup_requests: int = 20) -> Path:
    """The SavedModel as this project wrote it before, and as many tutorials still do: the Keras 3 model
    held by a tf.Module, written with tf.saved_model.save, plus the usual warmup records. It loads in
    Python (tf.saved_model.load) but TensorFlow's C++ loader, the one TF Serving runs, never restores
    its variables: every request, warmup first, fails with "Could not find variable ...". The fixture
    of every check that must catch it."""
    import keras
    import tensorflow as tf

    from {{ cookiecutter.package_name }}.export.savedmodel import EXTRA
    from {{ cookiecutter.package_name }}.export.warmup import WARMUP_FILE, write_warmup

    model = keras.saving.load_model(model_path, compile=False)

    class Serving(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, len(schema.dense)], tf.float32, name="dense"),
                                      tf.TensorSpec([None, len(schema.categorical)], tf.string, name="categorical")])
        def serve(self, dense: tf.Tensor, categorical: tf.Tensor) -> dict[str, tf.Tensor]:
            return {"probability": tf.reshape(self.model({"dense": dense, "categorical": categorical}), [-1])}

    module = Serving()
    tf.saved_model.save(module, str(out_dir), signatures={"serving_default": module.serve})
    write_warmup(out_dir / EXTRA / WARMUP_FILE, schema, model_name, warmup_requests)
    return out_dir


def scratch_project(root: Path, models_dir: Path | None = None, **settings: str) -> Path:
    """A project root holding .env (free ports, `settings` on top), compose/ and the package (a
    project's settings are read at its package's root: `python -m` run there reads this .env);
    models/ empty or linked."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copytree(PROJECT_ROOT / "compose", root / "compose")
    shutil.copytree(PROJECT_ROOT / "{{ cookiecutter.package_name }}", root / "{{ cookiecutter.package_name }}",
                    ignore=shutil.ignore_patterns("__pycache__"))
    ports = {key: str(free_port()) for key in PORT_SETTINGS}
    lines = [
        line for line in (PROJECT_ROOT / ".env").read_text().splitlines()
        if line.split("=", 1)[0] not in {**ports, **settings}
    ]
    lines += [f"{key}={value}" for key, value in {**ports, **settings}.items()]
    (root / ".env").write_text("\n".join(lines) + "\n")
    if models_dir is not None:
        (root / "models").symlink_to(models_dir, target_is_directory=True)
    else:
        (root / "models").mkdir()
    return root


def copy_project(root: Path, models_dir: Path | None = None, **settings: str) -> Path:
    """A scratch copy of the whole project (code, Makefile, compose/), to run `make` targets in."""
    scratch_project(root, models_dir, **settings)
    for name in ("Makefile", "pyproject.toml", "requirements.txt"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    for folder in ("loadtests", "dashboards"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def make(root: Path, target: str, *variables: str, timeout: float = 600,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`make TARGET` in a project with the running interpreter's venv (-o: never reinstall it)."""
    venv = Path(sys.prefix)
    return subprocess.run(["make", "-o", f"{venv}/.installed", target, f"VENV={venv}", *variables], cwd=root,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def read_env(root: Path) -> dict[str, str]:
    from {{ cookiecutter.package_name }}.settings import read_env_file

    return read_env_file(root / ".env")


def write_tsv(path: Path, schema: Schema, rows: int, seed: int = 0) -> Path:
    """`rows` synthetic rows as a Criteo-format TSV, some dense values left blank."""
    from {{ cookiecutter.package_name }}.data.synthetic import generate

    features = generate(schema, rows, seed)
    lines = []
    for label, dense, categorical in zip(features.label, features.dense, features.categorical):
        ints = ["" if v == 0 and i % 2 else str(int(v)) for i, v in enumerate(dense)]  # some blanks
        lines.append("\t".join([str(label), *ints, *categorical]))
    path.write_text("\n".join(lines) + "\n")
    return path


def require_prometheus_tool(name: str) -> str:
    """Path of promtool/prometheus; skip when absent unless REQUIRE_PROMETHEUS=1 (CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed (apt-get install prometheus)"
        if os.environ.get("REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message + " and REQUIRE_PROMETHEUS=1")
        pytest.skip(message)
    return path


@contextmanager
def empty_prometheus(folder: Path, scrape_seconds: int = 1) -> Iterator[str]:
    """A real Prometheus with nothing to scrape, in `folder`; yields its URL."""
    from tfserving_stack.prometheus import is_ready, prometheus_process

    binary = require_prometheus_tool("prometheus")
    (folder / "prometheus.yml").write_text(f"global:\n  scrape_interval: {scrape_seconds}s\n")
    port = free_port()
    with prometheus_process(binary, folder / "prometheus.yml", folder / "data", port, folder / "prometheus.log",
                            cwd=folder) as prometheus:
        prometheus.start()
        prometheus.wait_until(lambda: is_ready(port), 30, "Prometheus")
        yield f"http://127.0.0.1:{port}"


def require_alertmanager() -> str:
    """Path of Debian's prometheus-alertmanager (or upstream's alertmanager); skip when absent
    unless REQUIRE_ALERTMANAGER=1 (CI)."""
    from tfserving_stack.alertmanager import INSTALL_HINT, alertmanager_binary

    path = alertmanager_binary()
    if path is None:
        message = f"Alertmanager not installed ({INSTALL_HINT})"
        if os.environ.get("REQUIRE_ALERTMANAGER") == "1":
            pytest.fail(message + " and REQUIRE_ALERTMANAGER=1")
        pytest.skip(message)
    return path


def prometheus_query(prometheus: str, expr: str) -> list[dict]:
    """The result of an instant query; fails the test when Prometheus rejects it."""
    import requests

    reply = requests.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10)
    body = reply.json()
    assert reply.ok and body["status"] == "success", f"Prometheus rejected {expr!r}: {body.get('error')}"
    return body["data"]["result"]


SCRAPE_SECONDS = 1  # the scrape interval the dashboard tests give Prometheus


def grafana_substitute(expr: str, model: str, scrape_seconds: int = SCRAPE_SECONDS) -> str:
    """What Grafana sends for `expr` on a 5-minute dashboard (the preview's substitution)."""
    from tfserving_loadtest.dashboards.evaluate import Window, substitute

    return substitute(expr, model, Window(0, 300, scrape_seconds))
