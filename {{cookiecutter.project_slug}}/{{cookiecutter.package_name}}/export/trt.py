"""Optional TF-TRT conversion at export (`make export TRT=1`, `export --trt`).

TF-TRT replaces the parts of the serving graph that TensorRT supports (the float math after the
string hashing) with TRTEngineOps built for the GPU it runs on. Reduced precision moves the
outputs a little, so the converted model is compared with the unconverted export on the same rows
and published only when every output is within the tolerance.

It needs an NVIDIA GPU, TensorRT, and a TensorFlow built with TensorRT: TensorFlow's pip wheels
have none since 2.18 (this project pins a newer one), so `check_available` refuses here, before
anything is read or written. The conversion path has not been run in this project's development
or CI (no GPU or TensorRT there); the refusal and `compare_outputs` are tested.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..contract import SIGNATURE
from ..data.schema import Features, Schema
from ..errors import ExportError
from .savedmodel import EXTRA, METADATA_FILE

PRECISIONS = ("FP16", "FP32")  # INT8 would need a calibration set
# Probabilities live in [0, 1], so an absolute bound says what matters: how far a predicted CTR
# moves. FP16 keeps about 3 significant digits; rounding through the embeddings, attention and
# MLP moves a probability by about 1e-3, while a broken engine moves it by 0.1 or more. FP32
# engines may still compute in TF32 on Ampere and newer GPUs (TensorRT's default), hence 1e-3.
DEFAULT_ATOL = {"FP16": 1e-2, "FP32": 1e-3}
DEFAULT_RTOL = 0.0  # for outputs that are not bounded; a probability needs none
# Batch sizes the engines are built for: one row up to beyond the batching's max_batch_size (64).
BUILD_BATCH_SIZES = (1, 16, 64, 256)
COMPARE_ROWS, COMPARE_SEED = 512, 4242
COMPARE_BATCH_SIZES = (1, 7, 64, 256)  # odd sizes too: dynamic-shape engines must handle them
WHAT_TO_DO = ("run `make export TRT=1` on an NVIDIA GPU machine with TensorRT installed and a TensorFlow built with "
              "TensorRT (the pip wheels up to 2.17, or NVIDIA's TensorFlow container), and serve the result with a "
              "TF Serving GPU image that has TensorRT (the `use_gpu` answer selects the -gpu image); "
              "or drop TRT=1 (--trt) to publish the unconverted model")


# --- can TF-TRT run here? -----------------------------------------------------------------------

@dataclass(frozen=True)
class TrtEnvironment:
    tensorflow: str  # TensorFlow's version
    gpus: int  # GPUs TensorFlow sees
    built_with_tensorrt: bool  # TensorFlow was compiled with TF-TRT
    tensorrt_loaded: bool  # and found loadable TensorRT libraries (libnvinfer) at run time
    linked: tuple[int, ...] = (0, 0, 0)  # TensorRT version TensorFlow was built against
    loaded: tuple[int, ...] = (0, 0, 0)  # TensorRT version found at run time


def probe() -> TrtEnvironment:
    """What this process offers TF-TRT: GPUs, TensorFlow's TensorRT build flag, the TensorRT libraries."""
    import tensorflow as tf

    gpus = len(tf.config.list_physical_devices("GPU"))
    built = bool(tf.sysconfig.get_build_info().get("is_tensorrt_build", False))
    try:
        from tensorflow.compiler.tf2tensorrt import _pywrap_py_utils as trt_utils
    except ImportError:
        return TrtEnvironment(tf.__version__, gpus, False, False)
    # is_tensorrt_enabled() is False without TensorRT in the build, else it tries to dlopen libnvinfer.
    loaded = built and bool(trt_utils.is_tensorrt_enabled())
    linked = tuple(trt_utils.get_linked_tensorrt_version())
    found = tuple(trt_utils.get_loaded_tensorrt_version()) if loaded else (0, 0, 0)
    return TrtEnvironment(tf.__version__, gpus, built, loaded, linked, found)


def _version(numbers: tuple[int, ...]) -> str:
    return ".".join(str(n) for n in numbers)


def missing(environment: TrtEnvironment) -> list[str]:
    """What TF-TRT lacks, one phrase each; empty when the conversion can run."""
    problems = []
    if environment.gpus == 0:
        problems.append("no GPU is visible to TensorFlow (no NVIDIA GPU or driver here, or CUDA_VISIBLE_DEVICES hides it)")
    if not environment.built_with_tensorrt:
        problems.append(f"TensorFlow {environment.tensorflow} was built without TensorRT "
                        "(TensorFlow's pip wheels have had none since 2.18)")
    elif not environment.tensorrt_loaded:
        problems.append(f"the TensorRT libraries (libnvinfer {_version(environment.linked)}, which TensorFlow was built "
                        "against) cannot be loaded: install TensorRT or add it to LD_LIBRARY_PATH")
    elif not _compatible(environment.linked, environment.loaded):
        problems.append(f"TensorRT {_version(environment.loaded)} is loaded but TensorFlow was built against "
                        f"{_version(environment.linked)}: install the same major version, not older")
    return problems


def _compatible(linked: tuple[int, ...], loaded: tuple[int, ...]) -> bool:
    """TF-TRT's own rule (trt_convert._check_trt_version_compatibility): TensorRT 7 or newer, the
    same major version at run time as at build time, and not older."""
    return linked >= (7, 0, 0) and loaded[:1] == linked[:1] and loaded >= linked


def check_available(environment: TrtEnvironment | None = None) -> TrtEnvironment:
    """Raise ExportError naming what is missing, unless TF-TRT can convert here."""
    environment = environment or probe()
    problems = missing(environment)
    if problems:
        raise ExportError(f"TF-TRT conversion cannot run here: {'; '.join(problems)}. To convert, {WHAT_TO_DO}. "
                          "Nothing was exported")
    return environment


# --- conversion ---------------------------------------------------------------------------------

def _sample_inputs(schema: Schema, batch_sizes: tuple[int, ...], seed: int = 0) -> Iterator[dict[str, np.ndarray]]:
    from ..data.synthetic import generate

    for size in batch_sizes:
        yield generate(schema, size, seed + size).inputs()


def convert(saved_model_dir: Path, output_dir: Path, schema: Schema, precision: str = "FP16") -> Path:
    """Convert the SavedModel with TF-TRT into output_dir, engines prebuilt, warmup and metadata copied."""
    import tensorflow as tf
    from tensorflow.python.compiler.tensorrt import trt_convert as trt

    if precision not in PRECISIONS:
        raise ExportError(f"TF-TRT precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    try:
        converter = trt.TrtGraphConverterV2(
            input_saved_model_dir=str(saved_model_dir),
            input_saved_model_signature_key=SIGNATURE,
            precision_mode=precision,
            # Requests carry any number of rows: one engine whose profile spans the build batch sizes.
            use_dynamic_shape=True,
            dynamic_shape_profile_strategy="Range",
            # A shape outside the profile runs the native TensorFlow segment instead of building an
            # engine inside a request (seconds of latency).
            allow_build_at_runtime=False,
        )
        converter.convert()
        converter.build(input_fn=lambda: _sample_inputs(schema, BUILD_BATCH_SIZES))
        converter.save(str(output_dir))
    except (RuntimeError, ValueError, tf.errors.OpError) as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        raise ExportError(f"TF-TRT could not convert {saved_model_dir}: {type(error).__name__}: {first_line}") from None
    # TF Serving replays the warmup records from the version's assets.extra/; the converter writes
    # only the graph and its engines.
    shutil.copytree(saved_model_dir / EXTRA, output_dir / EXTRA, dirs_exist_ok=True)
    return output_dir


# --- comparison ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    rows: int
    max_abs_difference: float
    max_rel_difference: float
    rtol: float
    atol: float
    passed: bool  # every output: |candidate - reference| <= atol + rtol * |reference|

    def describe(self) -> str:
        return (f"over {self.rows} rows the outputs differ by up to {self.max_abs_difference:.2e} "
                f"(relative {self.max_rel_difference:.2e}); tolerance: atol {self.atol:.0e}, rtol {self.rtol:.0e}")


def _batches(rows: int, sizes: tuple[int, ...]) -> Iterator[slice]:
    start, number = 0, 0
    while start < rows:
        stop = min(rows, start + sizes[number % len(sizes)])
        yield slice(start, stop)
        start, number = stop, number + 1


def _outputs(folder: Path, features: Features, batch_sizes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Every output of folder's serving_default over the rows, run by TensorFlow's C++ loader (TF Serving's)."""
    from ..contract import grpc_predict_request
    from . import tf_loader

    requests = [grpc_predict_request("", features.take(rows)).inputs for rows in _batches(len(features), batch_sizes)]
    parts: dict[str, list[np.ndarray]] = defaultdict(list)
    for reply in tf_loader.run(folder, SIGNATURE, requests):
        for name, array in reply.items():
            parts[name].append(array)
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


def compare_outputs(reference_dir: Path, candidate_dir: Path, features: Features, rtol: float, atol: float,
                    batch_sizes: tuple[int, ...] = COMPARE_BATCH_SIZES) -> Comparison:
    """Run the same rows through both SavedModels' serving_default, in TensorFlow's C++ loader (TF
    Serving's), and compare every output.

    Raises ExportError when the signatures differ (names, dtypes, shapes) or an output's shape does."""
    from .verify import describe_signature, serving_signature

    wanted = describe_signature(serving_signature(reference_dir))
    found = describe_signature(serving_signature(candidate_dir))
    if wanted != found:
        raise ExportError(f"{candidate_dir}'s {SIGNATURE} signature {json.dumps(found)} differs from "
                          f"{reference_dir}'s {json.dumps(wanted)}")
    expected, actual = _outputs(reference_dir, features, batch_sizes), _outputs(candidate_dir, features, batch_sizes)
    worst_abs = worst_rel = 0.0
    passed = True
    for name, want in expected.items():
        got = actual[name]
        if got.shape != want.shape:
            raise ExportError(f"output {name}: {candidate_dir} gives shape {got.shape}, {reference_dir} {want.shape}")
        want64 = want.astype(np.float64)
        difference = np.abs(got.astype(np.float64) - want64)
        difference[np.isnan(difference)] = np.inf  # a NaN must fail, not compare as False and pass
        relative = difference / np.maximum(np.abs(want64), np.finfo(np.float32).tiny)
        passed = passed and bool(np.all(difference <= atol + rtol * np.abs(want64)))
        worst_abs = max(worst_abs, float(difference.max(initial=0.0)))
        worst_rel = max(worst_rel, float(relative.max(initial=0.0)))
    return Comparison(len(features), worst_abs, worst_rel, rtol, atol, passed)


# --- the export step ----------------------------------------------------------------------------

def convert_checked(exported: Path, output_dir: Path, schema: Schema, precision: str, rtol: float,
                    atol: float) -> Comparison:
    """Convert `exported` into output_dir and compare it with `exported`; ExportError when outside the tolerance."""
    from ..data.synthetic import generate

    convert(exported, output_dir, schema, precision)
    comparison = compare_outputs(exported, output_dir, generate(schema, COMPARE_ROWS, COMPARE_SEED), rtol, atol)
    if not comparison.passed:
        raise ExportError(f"the TF-TRT {precision} model is not published: {comparison.describe()}; "
                          "try --trt-precision FP32, or widen --trt-atol/--trt-rtol if that difference is acceptable")
    _record_conversion(output_dir, precision, comparison)
    return comparison


def _record_conversion(model_dir: Path, precision: str, comparison: Comparison) -> None:
    """Note the conversion in the version's metadata (`verify` then skips the exact Keras comparison)."""
    metadata_file = model_dir / EXTRA / METADATA_FILE
    metadata = json.loads(metadata_file.read_text()) if metadata_file.is_file() else {}
    environment = probe()
    metadata["tensorrt"] = {"precision": precision, "tensorrt_version": _version(environment.loaded),
                            "compared_with_unconverted": asdict(comparison)}
    metadata_file.write_text(json.dumps(metadata, indent=2) + "\n")
