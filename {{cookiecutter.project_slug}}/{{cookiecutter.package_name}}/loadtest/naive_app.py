"""The naive baseline the benchmark compares against: Flask calling Keras `model.predict()` per request.

Deliberately what a first deployment often looks like (threaded dev server, one predict per
request, no batching), behind TF Serving's predict route so the same client drives both. Not for
serving anything: `python -m <package>.loadtest.naive_app MODEL.keras PORT`.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def create_app(model_path: str) -> Any:
    import keras
    from flask import Flask, jsonify, request

    from .. import model as _registers_custom_layers  # noqa: F401  (Keras must know FieldAttention)
    from ..data.schema import CATEGORICAL, DENSE
    from ..train import as_tensors

    model = keras.saving.load_model(model_path)
    app = Flask(__name__)

    @app.get("/ready")
    def ready() -> Any:
        return jsonify(ready=True)

    @app.post("/v1/models/<name>:predict")
    def predict(name: str) -> Any:
        rows = request.get_json()["instances"]
        inputs = as_tensors({
            DENSE: np.array([row[DENSE] for row in rows], dtype=np.float32),
            CATEGORICAL: np.array([row[CATEGORICAL] for row in rows], dtype=str),
        })
        probabilities = model.predict(inputs, verbose=0)
        return jsonify(predictions=np.asarray(probabilities).reshape(-1).tolist())

    return app


if __name__ == "__main__":
    create_app(sys.argv[1]).run(host="127.0.0.1", port=int(sys.argv[2]), threaded=True)
