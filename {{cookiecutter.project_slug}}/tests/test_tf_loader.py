"""The export check's C++ program is TensorFlow's own loader, the one TF Serving runs: it answers on
TF Serving's own test models, and says which step failed otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tensorflow as tf

from embedded_tfserving.testing import tf_serving_testdata_dir

from {{ cookiecutter.package_name }}.export import tf_loader


def tf_serving_model(folder: str) -> Path:
    found = tf_serving_testdata_dir()
    if found is None or not (found / folder).is_dir():
        pytest.skip(f"TF Serving's test model {folder} not found: set TF_SERVING_TESTDATA or keep ../shared beside the project")
    return found / folder


@pytest.mark.parametrize(("folder", "offset"), [
    ("saved_model_half_plus_three/00000123", 3.0),  # TF 1.0
    ("saved_model_half_plus_two_2_versions/00000124", 2.0),  # TF 1.x
    ("saved_model_half_plus_two_tf2_cpu/00000123", 2.0),  # TF2, tf.saved_model.save
])
def test_the_checker_runs_tf_servings_own_test_models(folder: str, offset: float) -> None:
    requests = [{"x": tf.make_tensor_proto([value], dtype=tf.float32)} for value in (2.0, 4.0)]
    replies = tf_loader.run(tf_serving_model(folder), "serving_default", requests)
    assert [reply["y"].tolist() for reply in replies] == [[1.0 + offset], [2.0 + offset]]


def test_a_version_that_does_not_load_and_a_bad_request_are_told_apart(tmp_path: Path) -> None:
    source = tf_serving_model("saved_model_half_plus_two_2_versions/00000123")
    with pytest.raises(tf_loader.LoaderFailure, match=r"loads it, but a request fails: request 0: Session::Run: "):
        tf_loader.run(source, "serving_default", [{"x": tf.make_tensor_proto(["a string"])}])
    broken = shutil.copytree(source, tmp_path / "123")
    for data in (broken / "variables").glob("variables.data-*"):
        data.write_bytes(b"not the weights")
    with pytest.raises(tf_loader.LoaderFailure, match=r"\(the one TF Serving runs\) cannot load it: LoadSavedModel: "):
        tf_loader.run(broken, "serving_default", [])
