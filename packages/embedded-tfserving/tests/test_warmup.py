"""Warmup records (TFRecord of PredictionLog) run before a version is served; a bad one fails the load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from embedded_tfserving.errors import ServingError
from embedded_tfserving.servable import Servable
from embedded_tfserving.warmup import WARMUP_FILE, run_warmup


def write_warmup(version_dir: Path, values: list[list[float]], signature: str = "serving_default") -> None:
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = "m", signature
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(values, dtype=tf.float32))
    log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
    (version_dir / WARMUP_FILE).parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(version_dir / WARMUP_FILE)) as writer:
        for _ in range(3):
            writer.write(log.SerializeToString())


def test_warmup_runs_every_record(tf1_model: Path, tmp_path: Path) -> None:
    version = Path(shutil.copytree(tf1_model, tmp_path / "1"))
    write_warmup(version, [[1.0], [2.0]])
    assert run_warmup(Servable("m", 1, version)) == 3


def test_a_bad_warmup_record_fails_the_load(tf1_model: Path, tmp_path: Path) -> None:
    version = Path(shutil.copytree(tf1_model, tmp_path / "1"))
    write_warmup(version, [[1.0]], signature="no_such_signature")
    with pytest.raises(ServingError, match="no_such_signature"):
        run_warmup(Servable("m", 1, version))


def test_a_file_that_is_not_a_tfrecord_fails_the_load_with_tf_servings_status(tf1_model: Path, tmp_path: Path) -> None:
    version = Path(shutil.copytree(tf1_model, tmp_path / "1"))
    (version / WARMUP_FILE).parent.mkdir(parents=True, exist_ok=True)
    (version / WARMUP_FILE).write_bytes(b"warmup requests, written as text by mistake\n" * 4)
    with pytest.raises(ServingError, match=r"\. Please verify your warmup data is in TFRecord format\.$") as failed:
        run_warmup(Servable("m", 1, version))
    assert failed.value.code == "DATA_LOSS"
