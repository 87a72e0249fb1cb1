"""`export`, `publish` and `verify`: from artifacts/model.keras to a checked version under models/."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from ..errors import ExportError, ProjectError
from .options import model_name_option, models_dir_option

MODEL_NAME = model_name_option("Model name: the folder under --models-dir (env MODEL_NAME, else .env).")
MODELS_DIR = models_dir_option("TF Serving's model root: versions go to <models-dir>/<model-name>/<N>/.")
ARTIFACTS_DIR = click.option("--artifacts-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("artifacts"),
                             show_default=True, help="Where `train` wrote model.keras and evaluation.json.")


def _size(folder: Path) -> str:
    total = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return f"{total / 2**20:.1f} MiB"


def _version_dir(models_dir: Path, model_name: str, version: int | None) -> tuple[int, Path]:
    from ..contract import published_versions

    versions = published_versions(models_dir / model_name)
    if not versions:
        raise ExportError(f"no published version under {models_dir / model_name}; run `make export` first")
    if version is None:
        version = max(versions)
    if version not in versions:
        raise ExportError(f"version {version} of model {model_name} not found; have {sorted(versions)}")
    return version, versions[version]


@click.command("export")
@ARTIFACTS_DIR
@MODELS_DIR
@MODEL_NAME
@click.option("--version", type=click.IntRange(min=0), default=None,
              help="Version number to publish as (must not exist); default: the next one.")
@click.option("--warmup-requests", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Warmup records replayed by TF Serving before the version serves.")
@click.option("--trt/--no-trt", default=False, show_default=True,
              help="Convert with TF-TRT (NVIDIA GPU, TensorRT and a TensorFlow built with it needed) and publish the "
                   "converted model if its outputs match the unconverted one's within the tolerance.")
@click.option("--trt-precision", type=click.Choice(["FP16", "FP32"], case_sensitive=False), default="FP16",
              show_default=True, help="TensorRT precision for --trt.")
@click.option("--trt-atol", type=click.FloatRange(min=0), default=None,
              help="Largest absolute output difference allowed for --trt; default 1e-2 for FP16, 1e-3 for FP32.")
@click.option("--trt-rtol", type=click.FloatRange(min=0), default=None,
              help="Relative tolerance added to --trt-atol (times |unconverted output|); default 0.")
def export_command(artifacts_dir: Path, models_dir: Path, model_name: str, version: int | None, warmup_requests: int,
                   trt: bool, trt_precision: str, trt_atol: float | None, trt_rtol: float | None) -> None:
    """Export model.keras as a SavedModel with warmup, check it, and publish it as the next version."""
    from ..contract import published_versions
    from ..data.schema import load_schema
    from ..export import tf_loader
    from ..export import trt as tftrt
    from ..export.publish import publish_version
    from ..export.savedmodel import export_savedmodel
    from ..export.verify import check_keras_reload, hand_check_command, verify_savedmodel

    if trt:  # first: refuse before any artefact is read or anything is written
        tftrt.check_available()
    precision = trt_precision.upper()
    atol = tftrt.DEFAULT_ATOL[precision] if trt_atol is None else trt_atol
    rtol = tftrt.DEFAULT_RTOL if trt_rtol is None else trt_rtol
    model_path = artifacts_dir / "model.keras"
    if not model_path.is_file():
        raise ExportError(f"{model_path} not found; train a model first with `make train`")
    if version is not None and version in published_versions(models_dir / model_name):
        raise ExportError(
            f"version {version} of model {model_name} already exists; published versions are never overwritten: "
            "omit --version to publish the next one")
    evaluation_file = artifacts_dir / "evaluation.json"
    evaluation = json.loads(evaluation_file.read_text()) if evaluation_file.is_file() else None
    try:
        tf_loader.checker()  # every export runs in TF Serving's loader: no compiler, no export
        schema = load_schema()
        check_keras_reload(model_path, schema)
        with tempfile.TemporaryDirectory(prefix=".export-", dir=artifacts_dir) as scratch:
            exported = export_savedmodel(model_path, Path(scratch) / "savedmodel", schema, model_name, evaluation,
                                         warmup_requests)
            verified = verify_savedmodel(exported, schema, model_path)
            comparison = None
            if trt:
                converted = Path(scratch) / "tensorrt"
                comparison = tftrt.convert_checked(exported, converted, schema, precision, rtol, atol)
                verify_savedmodel(converted, schema)  # what is published runs in TF Serving's loader too
                exported = converted
            size = _size(exported)
            published = publish_version(exported, models_dir, model_name, version)
    except ProjectError as error:
        raise ExportError(f"{error}; nothing was published") from None
    click.echo(f"verified with TensorFlow's C++ loader, as TF Serving loads it: {verified.records} warmup requests "
               f"replayed, max difference from Keras {verified.max_abs_difference:.1e}")
    if comparison is not None:
        click.echo(f"converted with TF-TRT ({precision}), compared with the unconverted model: {comparison.describe()}")
    version_dir = models_dir / model_name / str(published)
    click.echo(f"published {version_dir} ({size}); TF Serving picks it up on its next poll")
    click.echo(f"check it by hand: {hand_check_command(version_dir, _inputs_dir(artifacts_dir, model_name, published))}")


def _inputs_dir(artifacts_dir: Path, model_name: str, version: int) -> Path:
    """Where the hand check's .npy inputs for a version go (artifacts/, not the immutable version folder)."""
    return artifacts_dir / "saved_model_cli" / model_name / str(version)


@click.command("publish")
@click.option("--from", "source", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="A SavedModel folder, e.g. an older version to roll back to.")
@MODELS_DIR
@MODEL_NAME
@click.option("--version", type=click.IntRange(min=0), default=None,
              help="Version number to publish as (must not exist); default: the next one.")
def publish_command(source: Path, models_dir: Path, model_name: str, version: int | None) -> None:
    """Publish a SavedModel folder atomically as a new version (rollback = republish an old one)."""
    from ..export.publish import publish_version

    published = publish_version(source, models_dir, model_name, version)
    click.echo(f"published {source} as {models_dir / model_name / str(published)}")


@click.command("verify")
@MODELS_DIR
@MODEL_NAME
@ARTIFACTS_DIR
@click.option("--version", type=click.IntRange(min=0), default=None, help="Version to check; default: the newest.")
def verify_command(models_dir: Path, model_name: str, artifacts_dir: Path, version: int | None) -> None:
    """Load a published version with TensorFlow's C++ loader (TF Serving's), replay its warmup and compare
    with the Keras model."""
    from ..data.schema import load_schema
    from ..export import tf_loader
    from ..export.verify import check_keras_reload, hand_check_command, verify_savedmodel

    number, folder = _version_dir(models_dir, model_name, version)
    model_path = artifacts_dir / "model.keras"
    try:
        tf_loader.checker()
        schema = load_schema()
        if model_path.is_file():
            check_keras_reload(model_path, schema)
        verified = verify_savedmodel(folder, schema, model_path if model_path.is_file() else None)
    except ProjectError as error:
        raise ExportError(f"version {number} of model {model_name} failed verification: {error}") from None
    if verified.note:
        click.echo(verified.note)
    compared = (f"predictions match the Keras model within {verified.max_abs_difference:.1e}"
                if verified.compared_with_keras else "not compared with a Keras model")
    click.echo(f"version {number} of model {model_name} OK in TensorFlow's C++ loader (TF Serving's): signature "
               f"matches the schema, {verified.records} warmup requests replayed, {compared}")
    click.echo(f"check it by hand: {hand_check_command(folder, _inputs_dir(artifacts_dir, model_name, number))}")
