"""Train the CTR model and evaluate it on a held-out split (`make train`, `python -m <package> train`).

Writes artifacts/model.keras (the Keras model, custom layers included) and artifacts/evaluation.json
(AUC, log loss, data fingerprint, versions), which `export` copies into the published version.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data.schema import CATEGORICAL, DENSE, Features, Schema
from .errors import DataError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

MODEL_FILE = "model.keras"
EVALUATION_FILE = "evaluation.json"
DEFAULT_ROWS = 100_000
HELD_OUT = 0.2


@dataclass
class Trained:
    model: keras.Model
    evaluation: dict[str, Any]


def as_tensors(inputs: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
    """Keras' numpy adapters reject string arrays; tensors work for fit, predict and signatures."""
    import tensorflow as tf

    return {DENSE: tf.constant(inputs[DENSE], tf.float32), CATEGORICAL: tf.constant(inputs[CATEGORICAL], tf.string)}


def _dataset(features: Features, batch_size: int, shuffle_seed: int | None = None) -> tf.data.Dataset:
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((as_tensors(features.inputs()), features.label.astype(np.float32)))
    if shuffle_seed is not None:
        data = data.shuffle(len(features), seed=shuffle_seed, reshuffle_each_iteration=True)
    return data.batch(batch_size).prefetch(2)


def train_model(
    schema: Schema,
    features: Features,
    epochs: int = 2,
    batch_size: int = 512,
    seed: int = 0,
    verbose: int = 0,
    data_source: str = "synthetic",
) -> Trained:
    """Fit on a random 80% of `features` and evaluate on the rest."""
    import keras
    import tensorflow as tf

    from .model import build_model
    from .model.metrics import log_loss, roc_auc

    if len(features) < 50:
        raise DataError(f"{len(features)} rows are too few to train and evaluate; use at least 50")
    keras.utils.set_random_seed(seed)
    order = np.random.default_rng(seed).permutation(len(features))
    cut = int(len(features) * (1 - HELD_OUT))
    train, held_out = features.take(order[:cut]), features.take(order[cut:])
    model = build_model(schema)
    started = time.perf_counter()
    # shuffle=False: the dataset shuffles itself.
    model.fit(_dataset(train, batch_size, shuffle_seed=seed), epochs=epochs, verbose=verbose, shuffle=False)
    seconds = time.perf_counter() - started
    probabilities = model.predict(_dataset(held_out, 4096), verbose=0).ravel()
    evaluation = {
        "auc": roc_auc(held_out.label, probabilities),
        "log_loss": log_loss(held_out.label, probabilities),
        "click_rate": float(features.label.mean()),
        "rows": {"train": len(train), "held_out": len(held_out), "skipped": features.skipped},
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "train_seconds": round(seconds, 2),
        "data": {"source": data_source, "fingerprint": features.fingerprint()},
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    return Trained(model, evaluation)


def save_artifacts(trained: Trained, artifacts_dir: Path) -> Path:
    """Write model.keras and evaluation.json; the model file appears complete or not at all."""
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    model_path = artifacts_dir / MODEL_FILE
    partial = artifacts_dir / f".partial-{os.getpid()}.keras"
    try:
        trained.model.save(partial)
        os.replace(partial, model_path)
    finally:
        partial.unlink(missing_ok=True)
    (artifacts_dir / EVALUATION_FILE).write_text(json.dumps(trained.evaluation, indent=2) + "\n")
    return model_path


def load_features(schema: Schema, data: Path | None, rows: int | None, seed: int) -> tuple[Features, str]:
    """The training rows and a description of where they came from."""
    if data is None:
        from .data.synthetic import generate

        rows = rows or DEFAULT_ROWS
        return generate(schema, rows, seed), f"synthetic(rows={rows}, seed={seed})"
    from .data.criteo import load_tsv

    return load_tsv(data, schema, max_rows=rows), str(data)
