"""Training, the SavedModel contract, warmup records, atomic publishing and verification, which runs
every version through TensorFlow's C++ loader, the one TF Serving runs."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from {{ cookiecutter.package_name }}.contract import PREDICT_METHOD, signature_spec
from {{ cookiecutter.package_name }}.data.schema import Schema
from {{ cookiecutter.package_name }}.data.synthetic import generate
from {{ cookiecutter.package_name }}.errors import ExportError
from {{ cookiecutter.package_name }}.export import tf_loader
from {{ cookiecutter.package_name }}.export.publish import publish_version
from {{ cookiecutter.package_name }}.export.verify import (
    describe_signature,
    hand_check_command,
    serving_signature,
    verify_savedmodel,
)

from .helpers import copy_project, make


def version_dir(published_model) -> Path:
    return published_model.base_path / str(published_model.version)


def test_serving_signature_is_the_contract(published_model, schema: Schema) -> None:
    # The SignatureDef as TF Serving reads it from saved_model.pb, and a request run by its tensor names.
    signature = serving_signature(version_dir(published_model))
    assert describe_signature(signature) == signature_spec(schema) == {
        "inputs": {"dense": {"dtype": "float32", "shape": [None, 13]}, "categorical": {"dtype": "string", "shape": [None, 26]}},
        "outputs": {"probability": {"dtype": "float32", "shape": [None]}}}
    assert signature.method_name == PREDICT_METHOD
    request = {"dense": tf.make_tensor_proto(generate(schema, 3, seed=1).dense),
               "categorical": tf.make_tensor_proto([[""] * 26] * 3)}
    [reply] = tf_loader.run(version_dir(published_model), "serving_default", [request])
    assert reply["probability"].shape == (3,) and reply["probability"].dtype == "float32"


def test_warmup_records_are_predict_requests_for_this_model(published_model) -> None:
    path = version_dir(published_model) / "assets.extra" / "tf_serving_warmup_requests"
    records = [prediction_log_pb2.PredictionLog.FromString(r) for r in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]
    assert 1 <= len(records) <= 1000
    sizes = set()
    for record in records:
        request = record.predict_log.request
        assert (request.model_spec.name, request.model_spec.signature_name) == (published_model.name, "serving_default")
        dense, categorical = tf.make_ndarray(request.inputs["dense"]), tf.make_ndarray(request.inputs["categorical"])
        assert dense.dtype.name == "float32" and dense.shape[1] == 13 and categorical.shape == (dense.shape[0], 26)
        sizes.add(dense.shape[0])
    assert len(sizes) > 1  # several batch sizes get warmed


def test_metadata_describes_the_version(published_model, schema: Schema) -> None:
    metadata = json.loads((version_dir(published_model) / "assets.extra" / "model_metadata.json").read_text())
    evaluation = json.loads((published_model.artifacts_dir / "evaluation.json").read_text())
    assert metadata["model_name"] == published_model.name
    assert metadata["schema"]["dense"] == list(schema.dense)
    assert metadata["evaluation"]["auc"] == evaluation["auc"]
    assert metadata["training_data_fingerprint"] == evaluation["data"]["fingerprint"]
    assert metadata["versions"]["tensorflow"] == tf.__version__
    assert metadata["created"]


def test_published_version_matches_keras_in_tf_servings_loader(published_model, schema: Schema) -> None:
    verified = verify_savedmodel(version_dir(published_model), schema, published_model.artifacts_dir / "model.keras")
    assert verified.compared_with_keras and verified.records == 20
    assert verified.max_abs_difference <= 1e-5


def test_a_keras_model_saved_in_a_tf_module_is_refused(tf_module_export: Path, schema: Schema) -> None:
    # It loads in Python, so the object-graph loader would pass it; TF's C++ loader never restores its
    # variables, and verify names the variable and the fix.
    tf.saved_model.load(str(tf_module_export))
    with pytest.raises(tf_loader.LoaderFailure) as refused:
        verify_savedmodel(tf_module_export, schema)
    message = str(refused.value)
    assert "TensorFlow's C++ loader (the one TF Serving runs) loads it, but a request fails" in message
    assert "Could not find variable " in message and "keras.export.ExportArchive" in message


def saved_model_cli(command: str) -> subprocess.CompletedProcess[str]:
    """A printed `saved_model_cli run ...` command, run with this venv's saved_model_cli."""
    words = shlex.split(command)
    assert words[0] == "saved_model_cli"
    return subprocess.run([str(Path(sys.executable).with_name("saved_model_cli")), *words[1:]], capture_output=True,
                          text=True, timeout=300)


def test_the_printed_hand_check_passes_on_the_export_and_fails_on_the_tf_module(
        published_model, tf_module_export: Path, tmp_path: Path) -> None:
    good = saved_model_cli(hand_check_command(version_dir(published_model), tmp_path / "good"))
    assert good.returncode == 0 and "Result for output key probability" in good.stdout, good.stderr[-2000:]
    old = saved_model_cli(hand_check_command(tf_module_export, tmp_path / "old"))
    assert old.returncode != 0 and "Could not find variable" in old.stderr


def test_without_a_compiler_export_and_verify_stop_and_say_what_to_install(published_model, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from {{ cookiecutter.package_name }}.cli import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no checker built yet
    monkeypatch.setenv("CXX", "no-such-compiler")
    models = tmp_path / "models"

    def refused(*command: str) -> str:
        result = CliRunner().invoke(main, [*command, "--models-dir", str(models)], env={"MODEL_NAME": "ctr"})
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        last = result.output.strip().splitlines()[-1]
        assert "no C++ compiler was found ('no-such-compiler' is not on the PATH)" in last, last
        assert "install a C++ compiler: g++ (Debian and Ubuntu: `sudo apt-get install g++`" in last, last
        return last

    assert refused("export", "--artifacts-dir", str(published_model.artifacts_dir)).endswith("nothing was published")
    assert not models.exists() or not any(models.rglob("*"))
    shutil.copytree(version_dir(published_model), models / "ctr" / "1")
    assert refused("verify", "--artifacts-dir", str(published_model.artifacts_dir)).startswith(
        "Error: version 1 of model ctr failed verification")
    assert not (tmp_path / "cache").exists()


def test_publish_numbers_versions_like_tf_serving(published_model, tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "ctr" / "00000123").mkdir(parents=True)
    (models / "ctr" / "notes").mkdir()
    assert publish_version(version_dir(published_model), models, "ctr") == 124
    published = (version_dir(published_model) / "saved_model.pb").read_bytes()
    assert (models / "ctr" / "124" / "saved_model.pb").read_bytes() == published
    assert publish_version(models / "ctr" / "124", models, "ctr", version=7) == 7  # republish = rollback
    assert sorted(p.name for p in (models / "ctr").iterdir()) == ["00000123", "124", "7", "notes"]  # no staging left


@pytest.mark.parametrize("taken", ["5", "005"])
def test_publish_never_overwrites_a_version(published_model, tmp_path: Path, taken: str) -> None:
    existing = tmp_path / "models" / "ctr" / taken
    existing.mkdir(parents=True)  # empty: os.rename would happily replace it
    with pytest.raises(ExportError, match=r"version 5 of model ctr already exists"):
        publish_version(version_dir(published_model), tmp_path / "models", "ctr", version=5)
    assert list(existing.iterdir()) == [] and sorted(p.name for p in existing.parent.iterdir()) == [taken]


@pytest.mark.parametrize("damage, complaint", [
    (lambda d: (d / "saved_model.pb").write_bytes((d / "saved_model.pb").read_bytes()[:1000]), "is corrupt"),
    (lambda d: (d / "saved_model.pb").write_bytes(b""), "holds no meta graph"),
    (lambda d: shutil.rmtree(d / "variables"), "variables/ is missing"),
    (lambda d: (d / "saved_model.pb").unlink(), "has no saved_model.pb"),
])
def test_publish_refuses_incomplete_savedmodels(published_model, tmp_path: Path, damage, complaint: str) -> None:
    source = tmp_path / "broken"
    shutil.copytree(version_dir(published_model), source)
    damage(source)
    models = tmp_path / "models"
    publish_version(version_dir(published_model), models, "ctr")
    with pytest.raises(ExportError, match=complaint):
        publish_version(source, models, "ctr")
    assert [p.name for p in (models / "ctr").iterdir()] == ["1"]


@pytest.mark.slow
def test_default_make_train_export_verify(tmp_path: Path) -> None:
    """`make train` with its defaults learns the planted signal; `make export` publishes; `make verify`
    passes: the targets CI's model job runs (.github/workflows/ci.yml)."""
    root = copy_project(tmp_path / "project", MODEL_NAME="ctr")

    def ok(result: subprocess.CompletedProcess[str]) -> str:
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    assert "held-out AUC" in ok(make(root, "train"))
    evaluation = json.loads((root / "artifacts" / "evaluation.json").read_text())
    print("default training:", {k: evaluation[k] for k in ("auc", "log_loss", "train_seconds")})
    assert evaluation["auc"] > 0.75 and evaluation["log_loss"] < 0.45
    assert "published models/ctr/1" in ok(make(root, "export"))
    assert "version 1 of model ctr OK" in ok(make(root, "verify"))
    assert (root / "models" / "ctr" / "1" / "assets.extra" / "model_metadata.json").is_file()
