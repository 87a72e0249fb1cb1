"""Reload a `.keras` file in a clean process: `python -I child_keras_reload.py MODEL NPZ ROOTS MODULE...`.

In the training process every custom layer class is already imported and registered, so a layer
without a proper get_config() or registration saves fine and only fails when something else loads
the file. Here only ROOTS (os.pathsep-separated, put on sys.path) and the named MODULEs (which register the layers) are
imported, as a fresh process would. The reloaded model's predictions on the inputs in NPZ
(dense, categorical) must equal the `expected` array there. Failure: one line on stderr, exit 1.
"""

import importlib
import os
import sys


def main() -> None:
    model_path, npz_path, roots, *modules = sys.argv[1:]
    sys.path[:0] = roots.split(os.pathsep)
    for module in modules:
        importlib.import_module(module)

    import keras
    import numpy as np
    import tensorflow as tf

    try:
        model = keras.saving.load_model(model_path, compile=False)
    except Exception as error:
        print("FAILED: " + f"{type(error).__name__}: {error}".replace("\n", " "), file=sys.stderr)
        sys.exit(1)
    data = np.load(npz_path)
    # Every array but `expected` is a named input (strings as objects: TensorFlow takes no numpy <U).
    inputs = {name: tf.constant(data[name].astype(object) if data[name].dtype.kind == "U" else data[name])
              for name in data.files if name != "expected"}
    difference = float(np.max(np.abs(model(inputs, training=False).numpy().ravel() - data["expected"])))
    if difference > 1e-5:
        print(f"FAILED: reloaded model predicts differently (by up to {difference:.2e}): a layer's get_config() "
              "does not return all of its constructor arguments", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
