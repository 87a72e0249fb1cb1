"""TF-TRT at export (`make export TRT=1`): the refusal where it cannot run, and the comparison
that decides whether a converted model may be published.

The conversion itself needs an NVIDIA GPU, TensorRT and a TensorFlow built with it; it has not
run in this project's development or CI. Here the comparison runs on unconverted pairs: a
SavedModel against itself and against copies whose outputs are shifted by a known amount.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner, Result

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.data.schema import Schema
from {{ cookiecutter.package_name }}.data.synthetic import generate
from {{ cookiecutter.package_name }}.errors import ExportError
from {{ cookiecutter.package_name }}.export import trt
from {{ cookiecutter.package_name }}.export.savedmodel import EXTRA, METADATA_FILE
from {{ cookiecutter.package_name }}.export.verify import verify_savedmodel
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

HERE = trt.probe()
cannot_convert = pytest.mark.skipif(not trt.missing(HERE), reason="TF-TRT can run here: there is nothing to refuse")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"MODEL_NAME": "ctr"})


def listing(folder: Path) -> dict[str, bytes | None]:
    """Every path under folder (hidden staging folders included), with the files' bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in sorted(folder.rglob("*"))}


def shifted_copy(source: Path, target: Path, schema: Schema, offset: float, output: str = "probability") -> Path:
    """A SavedModel whose serving_default returns source's probability + offset (under the name `output`)."""
    loaded = tf.saved_model.load(str(source))
    reference = loaded.signatures["serving_default"]

    class Shifted(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.reference = loaded  # tracked, so the copy saves the source's variables

        @tf.function(input_signature=[tf.TensorSpec([None, len(schema.dense)], tf.float32, name="dense"),
                                      tf.TensorSpec([None, len(schema.categorical)], tf.string, name="categorical")])
        def serve(self, dense, categorical):
            return {output: reference(dense=dense, categorical=categorical)["probability"] + offset}

    module = Shifted()
    tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve})
    return target


@pytest.fixture
def project(published_model, tmp_path: Path) -> Path:
    """A working copy: artifacts of the published model and models/ctr/1."""
    shutil.copytree(published_model.artifacts_dir, tmp_path / "artifacts")
    shutil.copytree(published_model.base_path / "1", tmp_path / "models" / "ctr" / "1")
    return tmp_path


@pytest.fixture(scope="module")
def reference(published_model) -> Path:
    return published_model.base_path / str(published_model.version)


@pytest.fixture(scope="module")
def rows(schema: Schema):
    return generate(schema, 40, seed=3)


# --- the refusal --------------------------------------------------------------------------------

@cannot_convert
def test_export_with_trt_refuses_before_touching_anything(project: Path) -> None:
    before = listing(project)
    result = run("export", "--trt", "--artifacts-dir", str(project / "artifacts"), "--models-dir", str(project / "models"))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: TF-TRT conversion cannot run here: ")
    assert "drop TRT=1" in last and "Nothing was exported" in last
    assert listing(project) == before  # no version, no staging folder under models/ or artifacts/


@cannot_convert
def test_the_refusal_comes_before_the_artefacts_are_read(tmp_path: Path) -> None:
    result = run("export", "--trt", "--artifacts-dir", str(tmp_path / "nothing"), "--models-dir", str(tmp_path / "models"))
    assert result.exit_code == 1 and "TF-TRT conversion cannot run here" in result.output  # not "train a model first"
    assert list(tmp_path.iterdir()) == []


@cannot_convert
def test_check_available_names_what_is_missing_here() -> None:
    with pytest.raises(ExportError) as refused:
        trt.check_available()
    message = str(refused.value)
    if not HERE.gpus:
        assert "no GPU is visible to TensorFlow" in message
    if not HERE.built_with_tensorrt:
        assert f"TensorFlow {tf.__version__} was built without TensorRT" in message
    assert "NVIDIA GPU machine with TensorRT" in message and "use_gpu" in message


@pytest.mark.parametrize(("environment", "named", "not_named"), [
    (trt.TrtEnvironment("2.21.0", 1, False, False), ["built without TensorRT"], ["no GPU"]),
    (trt.TrtEnvironment("2.17.0", 0, True, True, (8, 6, 1), (8, 6, 1)), ["no GPU is visible"], ["TensorRT lib"]),
    (trt.TrtEnvironment("2.17.0", 1, True, False, (8, 6, 1)), ["libnvinfer 8.6.1", "cannot be loaded"], ["no GPU"]),
    (trt.TrtEnvironment("2.17.0", 1, True, True, (8, 6, 1), (10, 0, 0)), ["TensorRT 10.0.0 is loaded", "8.6.1"], []),
    (trt.TrtEnvironment("2.17.0", 1, True, True, (8, 6, 1), (8, 5, 0)), ["TensorRT 8.5.0 is loaded"], []),
])
def test_check_available_names_the_missing_piece(environment, named: list[str], not_named: list[str]) -> None:
    with pytest.raises(ExportError) as refused:
        trt.check_available(environment)
    for phrase in named:
        assert phrase in str(refused.value)
    for phrase in not_named:
        assert phrase not in str(refused.value)


def test_check_available_accepts_a_gpu_with_matching_tensorrt() -> None:
    ready = trt.TrtEnvironment("2.17.0", 1, True, True, (8, 6, 1), (8, 6, 3))  # newer patch: compatible
    assert trt.check_available(ready) is ready


def test_make_export_passes_trt_only_when_asked() -> None:
    def dry_run(*variables: str) -> str:
        venv = Path(sys.prefix)
        return subprocess.run(["make", "-n", "-o", f"{venv}/.installed", "export", f"VENV={venv}", *variables],
                              cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout

    assert " export --trt" in dry_run("TRT=1")
    assert "--trt" not in dry_run() and "--trt" not in dry_run("TRT=0")


# --- the comparison, on unconverted pairs -------------------------------------------------------

def test_the_same_savedmodel_twice_passes(reference: Path, rows) -> None:
    comparison = trt.compare_outputs(reference, reference, rows, rtol=0.0, atol=0.0)
    assert comparison.passed and comparison.rows == 40
    assert comparison.max_abs_difference == comparison.max_rel_difference == 0.0


def test_a_shifted_copy_fails_with_the_figures(reference: Path, rows, schema: Schema, tmp_path: Path) -> None:
    shifted = shifted_copy(reference, tmp_path / "shifted", schema, 0.05)
    comparison = trt.compare_outputs(reference, shifted, rows, rtol=0.0, atol=1e-2)
    assert not comparison.passed
    assert comparison.max_abs_difference == pytest.approx(0.05, abs=1e-6)
    assert comparison.max_rel_difference > 0.05  # probabilities are below 1
    assert "differ by up to 5.00e-02" in comparison.describe() and "atol 1e-02" in comparison.describe()


def test_the_tolerance_decides(reference: Path, rows, schema: Schema, tmp_path: Path) -> None:
    shifted = shifted_copy(reference, tmp_path / "shifted", schema, 0.005)
    assert trt.compare_outputs(reference, shifted, rows, rtol=0.0, atol=1e-2).passed
    assert not trt.compare_outputs(reference, shifted, rows, rtol=0.0, atol=1e-3).passed
    assert trt.compare_outputs(reference, shifted, rows, rtol=1.0, atol=1e-3).passed  # probabilities above ~0.005


def test_nan_outputs_fail(reference: Path, rows, schema: Schema, tmp_path: Path) -> None:
    broken = shifted_copy(reference, tmp_path / "nan", schema, float("nan"))
    comparison = trt.compare_outputs(reference, broken, rows, rtol=1.0, atol=1.0)
    assert not comparison.passed and np.isinf(comparison.max_abs_difference)


def test_a_different_signature_is_refused(reference: Path, rows, schema: Schema, tmp_path: Path) -> None:
    renamed = shifted_copy(reference, tmp_path / "renamed", schema, 0.0, output="score")
    with pytest.raises(ExportError, match=r"signature .* differs from"):
        trt.compare_outputs(reference, renamed, rows, rtol=0.0, atol=1e-2)


# --- the export flow, with the conversion stubbed ------------------------------------------------

@pytest.mark.slow  # a whole export (two verifying processes): the default rendering runs it
def test_export_refuses_to_publish_a_conversion_outside_the_tolerance(project: Path, schema: Schema,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """What `export --trt` does once the conversion ran: compare, and publish nothing when it differs."""
    def bad_conversion(source: Path, target: Path, schema: Schema, precision: str = "FP16") -> Path:
        shifted_copy(source, target, schema, 0.05)
        shutil.copytree(source / EXTRA, target / EXTRA)
        return target

    monkeypatch.setattr(trt, "check_available", lambda environment=None: environment)
    monkeypatch.setattr(trt, "convert", bad_conversion)
    before = listing(project / "models")
    result = run("export", "--trt", "--warmup-requests", "4", "--artifacts-dir", str(project / "artifacts"),
                 "--models-dir", str(project / "models"))
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert "the TF-TRT FP16 model is not published" in last and "differ by up to 5.00e-02" in last
    assert "nothing was published" in last
    assert listing(project / "models") == before
    assert not list((project / "artifacts").glob(".export-*"))  # the staging folder is gone too


@pytest.mark.slow  # a whole export (two verifying processes): the default rendering runs it
def test_a_conversion_within_the_tolerance_is_recorded_and_verify_accepts_it(
        published_model, reference: Path, schema: Schema, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trt, "convert", lambda source, target, schema, precision="FP16": shutil.copytree(source, target))
    comparison = trt.convert_checked(reference, tmp_path / "converted", schema, "FP16", rtol=0.0, atol=1e-2)
    assert comparison.passed and comparison.rows == trt.COMPARE_ROWS
    recorded = json.loads((tmp_path / "converted" / EXTRA / METADATA_FILE).read_text())["tensorrt"]
    assert recorded["precision"] == "FP16" and recorded["compared_with_unconverted"]["passed"]
    # `make verify` must not hold a converted version to the exact Keras comparison (1e-5).
    verified = verify_savedmodel(tmp_path / "converted", schema, published_model.artifacts_dir / "model.keras")
    assert not verified.compared_with_keras and "converted with TF-TRT" in verified.note
