"""The Keras model and its custom layers: shapes, hashing, serialization in a fresh process."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data.schema import Schema
from {{ cookiecutter.package_name }}.data.synthetic import generate
from {{ cookiecutter.package_name }}.errors import ExportError
from {{ cookiecutter.package_name }}.export.verify import check_keras_reload
from {{ cookiecutter.package_name }}.model import FieldAttention, FieldTokens, build_model
from {{ cookiecutter.package_name }}.train import as_tensors


@pytest.fixture(scope="module")
def model(schema: Schema) -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_model(schema)


def test_field_attention_config_is_exactly_its_arguments() -> None:
    layer = FieldAttention(num_heads=3, key_dim=4, name="attention")
    config = layer.get_config()
    assert (config["num_heads"], config["key_dim"]) == (3, 4)
    rebuilt = FieldAttention.from_config(config)
    assert (rebuilt.num_heads, rebuilt.key_dim, rebuilt.name) == (3, 4, "attention")


def test_field_attention_mixes_fields() -> None:
    """Changing one field's token changes the other fields' outputs: attention crosses fields."""
    keras.utils.set_random_seed(1)
    layer = FieldAttention(num_heads=2, key_dim=4)
    tokens = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    changed = tokens.copy()
    changed[:, 0] += 3.0
    before, after = np.asarray(layer(tokens)), np.asarray(layer(changed))
    assert before.shape == (2, 5, 8)
    assert not np.allclose(before[:, 1:], after[:, 1:])
    np.testing.assert_allclose(before.mean(-1), 0.0, atol=1e-5)  # layer-normalized


def test_field_tokens_hash_raw_tokens_per_field(schema: Schema) -> None:
    layer = FieldTokens(num_dense=1, num_categorical=2, hash_buckets=50, embedding_dim=4)
    dense = np.array([[3.0], [-2.0]], dtype="float32")
    same_token = as_tensors({"dense": dense, "categorical": np.array([["68fd1e64", "68fd1e64"]] * 2)})
    tokens = np.asarray(layer(same_token["dense"], same_token["categorical"]))
    assert tokens.shape == (2, 3, 4)
    np.testing.assert_array_equal(tokens[0, 1:], tokens[1, 1:])  # deterministic hashing
    assert not np.allclose(tokens[0, 1], tokens[0, 2])  # each field has its own buckets
    np.testing.assert_allclose(tokens[1, 0], np.asarray(layer.shift)[0])  # negatives clamp to log1p(0)


def test_model_maps_raw_features_to_probabilities(model: keras.Model, schema: Schema) -> None:
    features = generate(schema, 64, seed=1)
    probabilities = np.asarray(model(as_tensors(features.inputs()))).ravel()
    assert probabilities.shape == (64,)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    assert {tensor.name for tensor in model.inputs} == {"dense", "categorical"}


def test_keras_file_round_trips_in_this_and_a_fresh_process(model: keras.Model, schema: Schema, tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    model.save(path)
    inputs = as_tensors(generate(schema, 16, seed=2).inputs())
    reloaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(np.asarray(reloaded(inputs)), np.asarray(model(inputs)), atol=1e-6)
    check_keras_reload(path, schema)  # raises if a fresh process cannot rebuild it


LAYERS = '''
import keras


@keras.saving.register_keras_serializable(package="demo")
class Scale(keras.layers.Layer):
    """A common mistake: a required constructor argument that get_config() leaves out."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return super().get_config()
'''


def model_with_layer(schema: Schema, module: Any, tmp_path: Path) -> Path:
    """The real CTR model with the demo layer scaling its dense input, saved as .keras."""
    base = build_model(schema)
    dense = keras.Input(shape=(len(schema.dense),), dtype="float32", name="dense")
    categorical = keras.Input(shape=(len(schema.categorical),), dtype="string", name="categorical")
    output = base({"dense": module.Scale(2.0, name="scale")(dense), "categorical": categorical})
    path = tmp_path / "model.keras"
    keras.Model({"dense": dense, "categorical": categorical}, output).save(path)
    return path


@pytest.fixture
def demo_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    module_dir = tmp_path / "demo_layers_src"
    module_dir.mkdir()
    (module_dir / "demo_layers.py").write_text(textwrap.dedent(LAYERS))
    monkeypatch.syspath_prepend(str(module_dir))
    monkeypatch.delitem(sys.modules, "demo_layers", raising=False)
    return importlib.import_module("demo_layers")


def test_layer_whose_get_config_misses_an_argument_is_caught(schema: Schema, demo_layers: Any, tmp_path: Path) -> None:
    path = model_with_layer(schema, demo_layers, tmp_path)
    with pytest.raises(ExportError) as raised:
        check_keras_reload(path, schema, modules=("demo_layers",), paths=(tmp_path / "demo_layers_src",))
    message = str(raised.value)
    assert "layer Scale cannot be rebuilt" in message and "factor" in message
    assert "implement get_config() in Scale returning every constructor argument" in message


def test_layer_unknown_to_a_fresh_process_is_caught(schema: Schema, demo_layers: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_layers.Scale, "get_config",
                        lambda self: {**keras.layers.Layer.get_config(self), "factor": self.factor})
    path = model_with_layer(schema, demo_layers, tmp_path)
    check_keras_reload(path, schema, modules=("{{ cookiecutter.package_name }}.model", "demo_layers"),
                       paths=(tmp_path / "demo_layers_src",))
    with pytest.raises(ExportError, match=r"layer Scale is unknown there; decorate it with "
                                          r"@keras.saving.register_keras_serializable"):
        check_keras_reload(path, schema)  # the child imports only the project's model package


def test_export_refuses_to_publish_such_a_model(schema: Schema, demo_layers: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from {{ cookiecutter.package_name }}.cli import main

    model_with_layer(schema, demo_layers, tmp_path)
    models = tmp_path / "models"
    result = CliRunner().invoke(main, ["export", "--artifacts-dir", str(tmp_path), "--models-dir", str(models),
                                       "--model-name", "ctr"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "implement get_config() in Scale" in last and "nothing was published" in last
    assert not models.exists()
