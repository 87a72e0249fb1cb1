"""A version loaded as TF Serving's SavedModelBundle loads it (the `serve` graph in a Session,
restore, init op), on TF Serving's own test models of three eras: TF 1.0 (half_plus_three), TF 1.x
(half_plus_two) and TF2's tf.saved_model.save (half_plus_two_tf2_cpu)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedded_tfserving.errors import ServingError
from embedded_tfserving.servable import Servable


@pytest.mark.parametrize(("folder", "offset"), [
    ("saved_model_half_plus_three/00000123", 3.0),
    ("saved_model_half_plus_two_2_versions/00000123", 2.0),
    ("saved_model_half_plus_two_tf2_cpu/00000123", 2.0),
])
def test_tf_servings_test_models_answer(tf_serving_testdata: Path, folder: str, offset: float) -> None:
    if not (tf_serving_testdata / folder).is_dir():
        pytest.skip(f"TF Serving's test model {folder} not found under {tf_serving_testdata}")
    servable = Servable("half", 123, tf_serving_testdata / folder)
    try:
        # Fed as Session::Run feeds: no check against the placeholder's shape ([-1, 1], [1] or a scalar here).
        assert servable.run("serving_default", {"x": np.array([2.0], dtype=np.float32)})["y"].tolist() == [1.0 + offset]
    finally:
        servable.release()


def test_a_version_whose_variables_do_not_restore_fails_to_load(tf_serving_testdata: Path, tmp_path: Path) -> None:
    import shutil

    source = tf_serving_testdata / "saved_model_half_plus_two_2_versions" / "00000123"
    if not source.is_dir():
        pytest.skip(f"TF Serving's half_plus_two not found under {tf_serving_testdata}")
    version = shutil.copytree(source, tmp_path / "123")
    for data in (version / "variables").glob("variables.data-*"):
        data.write_bytes(b"not the weights")
    with pytest.raises(ServingError) as failed:
        Servable("half", 123, version)
    assert failed.value.code in ("DATA_LOSS", "OUT_OF_RANGE"), failed.value  # TensorBundle's checksum or short read
    assert failed.value.message.startswith(f"Failed to load SavedModel at {version}: "), failed.value
    assert "save/RestoreV2" in failed.value.message and "Original stack trace" not in failed.value.message
