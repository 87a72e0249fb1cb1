"""Bad input to train/export/publish/verify and bench: one clear line, a non-zero exit, existing versions untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from {{ cookiecutter.package_name }}.cli import main
from {{ cookiecutter.package_name }}.data.schema import Schema
from {{ cookiecutter.package_name }}.model import build_model

from .helpers import write_tsv


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"MODEL_NAME": "ctr"})


def assert_clear_error(result: Result, *fragments: str) -> str:
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception  # handled, not a crash
    assert "Traceback" not in result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ")
    for fragment in fragments:
        assert fragment in last
    return last


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(published_model, tmp_path: Path) -> Path:
    """A working copy: artifacts of the published model and models/ctr/1."""
    shutil.copytree(published_model.artifacts_dir, tmp_path / "artifacts")
    shutil.copytree(published_model.base_path / "1", tmp_path / "models" / "ctr" / "1")
    return tmp_path


def test_unknown_option_is_a_usage_error() -> None:
    result = run("train", "--bogus")
    assert result.exit_code == 2 and "No such option '--bogus'" in result.output


def test_train_with_a_missing_data_file(tmp_path: Path) -> None:
    assert_clear_error(run("train", "--data", str(tmp_path / "day_0.tsv")), "day_0.tsv not found")


def test_train_with_a_file_that_is_not_criteo(tmp_path: Path) -> None:
    data = tmp_path / "day_0.tsv"
    data.write_text("1,2,3\n")
    artifacts = tmp_path / "artifacts"
    assert_clear_error(run("train", "--data", str(data), "--artifacts-dir", str(artifacts)), "line 1: 1 tab-separated columns")
    assert not artifacts.exists()


def test_train_reports_skipped_rows(tmp_path: Path, schema: Schema) -> None:
    data = write_tsv(tmp_path / "day_0.tsv", schema, 300)
    lines = data.read_text().splitlines()
    lines[0] = "\t".join(["yes", *lines[0].split("\t")[1:]])
    data.write_text("\n".join(lines) + "\n")
    result = run("train", "--data", str(data), "--epochs", "1", "--artifacts-dir", str(tmp_path / "artifacts"))
    assert result.exit_code == 0, result.output
    assert "skipped 1 malformed rows" in result.output and "held-out AUC" in result.output


def test_export_without_a_trained_model(tmp_path: Path) -> None:
    assert_clear_error(run("export", "--artifacts-dir", str(tmp_path / "artifacts")), "not found; train a model first")


def test_export_onto_an_existing_version(project: Path) -> None:
    before = snapshot(project / "models")
    last = assert_clear_error(run("export", "--artifacts-dir", str(project / "artifacts"), "--models-dir",
                                  str(project / "models"), "--version", "1"), "version 1 of model ctr already exists")
    assert "never overwritten" in last
    assert snapshot(project / "models") == before


def test_export_refuses_a_model_that_does_not_match_the_schema(project: Path, schema: Schema) -> None:
    narrower = Schema(schema.label, schema.dense[:-1], schema.categorical, 100, 4)
    build_model(narrower).save(project / "artifacts" / "model.keras")
    before = snapshot(project / "models")
    assert_clear_error(run("export", "--artifacts-dir", str(project / "artifacts"), "--models-dir", str(project / "models")),
                       "do not match the schema", "dense float32[12]", "nothing was published")
    assert snapshot(project / "models") == before


def test_publish_refuses_a_corrupt_savedmodel(project: Path) -> None:
    source = project / "broken"
    shutil.copytree(project / "models" / "ctr" / "1", source)
    (source / "saved_model.pb").write_bytes((source / "saved_model.pb").read_bytes()[:500])
    before = snapshot(project / "models")
    assert_clear_error(run("publish", "--from", str(source), "--models-dir", str(project / "models")), "is corrupt")
    assert snapshot(project / "models") == before
    assert [p.name for p in (project / "models" / "ctr").iterdir()] == ["1"]  # no staging folder left


def test_publish_onto_an_existing_version(project: Path) -> None:
    assert_clear_error(run("publish", "--from", str(project / "models" / "ctr" / "1"), "--models-dir",
                           str(project / "models"), "--version", "1"), "already exists")


def test_verify_a_corrupt_version(project: Path) -> None:
    graph = project / "models" / "ctr" / "1" / "saved_model.pb"
    graph.write_bytes(graph.read_bytes()[:500])
    assert_clear_error(run("verify", "--models-dir", str(project / "models"), "--artifacts-dir", str(project / "artifacts")),
                       "version 1 of model ctr failed verification", "is corrupt")


def test_verify_without_versions(tmp_path: Path) -> None:
    assert_clear_error(run("verify", "--models-dir", str(tmp_path / "models")), "no published version under")
    assert_clear_error(run("verify", "--models-dir", str(tmp_path), "--version", "3"), "no published version")


@pytest.mark.parametrize(("option", "value", "fragment"), [
    ("--ranking-rows", "50,x", "'50,x' is not a comma-separated list of counts"),
    ("--ranking-rows", "0", "counts must be at least 1"),
    ("--levels", "", "is not a comma-separated list of counts"),
    ("--rows", "0", "0 is not in the range x>=1"),
    ("--repeats", "0", "0 is not in the range x>=1"),
    ("--baseline", "/", "no embedded_tfserving package in /"),
])
def test_bench_refuses_bad_sizes_before_measuring(tmp_path: Path, option: str, value: str, fragment: str) -> None:
    output = tmp_path / "bench" / "bench.json"
    result = run("bench", "--models-dir", str(tmp_path), "--skip-naive", "--output", str(output), option, value)
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output and fragment in result.output
    assert not output.parent.exists()  # refused before any server started or file was written
