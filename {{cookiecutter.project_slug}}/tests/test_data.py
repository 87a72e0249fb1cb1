"""Schema, synthetic generator and Criteo TSV loader."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from {{ cookiecutter.package_name }}.data.criteo import load_tsv
from {{ cookiecutter.package_name }}.data.schema import Schema, load_schema
from {{ cookiecutter.package_name }}.data.synthetic import generate, true_click_probability
from {{ cookiecutter.package_name }}.errors import DataError
from {{ cookiecutter.package_name }}.model.metrics import roc_auc

from .helpers import write_tsv


def test_schema_is_criteo_shaped(schema: Schema) -> None:
    assert schema.label == "label"
    assert schema.dense == tuple(f"I{i}" for i in range(1, 14))
    assert schema.categorical == tuple(f"C{i}" for i in range(1, 27))
    assert schema.hash_buckets > 0 and schema.embedding_dim > 0


@pytest.mark.parametrize("text, complaint", [
    ("label: y\ndense: [a]\ncategorical: [a]\nmodel: {hash_buckets: 10, embedding_dim: 4}", "repeated: a"),
    ("label: y\ndense: []\ncategorical: [c]\nmodel: {hash_buckets: 10, embedding_dim: 4}", "`dense`"),
    ("label: y\ndense: [a]\ncategorical: [c]\nmodel: {hash_buckets: 0, embedding_dim: 4}", "model.hash_buckets"),
    ("label: [", "not valid YAML"),
])
def test_bad_schema_files_are_named_with_the_problem(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    with pytest.raises(DataError, match=re.escape(complaint)) as raised:
        load_schema(path)
    assert str(path) in str(raised.value)


def test_missing_schema_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_schema(tmp_path / "nope.yaml")


def test_generate_is_deterministic_and_criteo_like(schema: Schema) -> None:
    features = generate(schema, 3000, seed=5)
    again = generate(schema, 3000, seed=5)
    assert features.fingerprint() == again.fingerprint()
    assert features.fingerprint() != generate(schema, 3000, seed=6).fingerprint()
    assert features.dense.dtype == np.float32 and features.dense.shape == (3000, 13)
    assert features.categorical.shape == (3000, 26)
    assert isinstance(features.categorical[0, 0], str)
    assert features.label.shape == (3000,) and set(np.unique(features.label)) == {0, 1}
    assert (features.dense >= 0).all() and (features.dense == 0).any()
    tokens = features.categorical.ravel()
    assert (tokens == "").any()  # blanks
    assert all(re.fullmatch(r"[0-9a-f]{8}", t) for t in tokens[tokens != ""][:2000])
    assert 0.12 < features.label.mean() < 0.35


def test_seeds_share_one_vocabulary(schema: Schema) -> None:
    """Load-test payloads (another seed) must hit tokens the model was trained on."""
    train, traffic = generate(schema, 5000, seed=0), generate(schema, 500, seed=7)
    for field in range(len(schema.categorical)):
        seen = set(train.categorical[:, field])
        assert np.mean([t in seen for t in traffic.categorical[:, field]]) > 0.7


def test_planted_signal_is_learnable(schema: Schema) -> None:
    features = generate(schema, 20000, seed=3)
    assert roc_auc(features.label, true_click_probability(schema, 20000, seed=3)) > 0.8
    # Per-token click rates of an informative field alone carry less than the whole signal.
    field = features.categorical[:, 0]
    rates = {t: features.label[field == t].mean() for t in np.unique(field)}
    alone = roc_auc(features.label, np.array([rates[t] for t in field]))
    assert 0.5 < alone < 0.75


def test_roc_auc_handles_ties_and_needs_both_classes() -> None:
    assert roc_auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.5, 0.5])) == pytest.approx(0.875)
    with pytest.raises(DataError, match="both clicks and non-clicks"):
        roc_auc(np.array([1, 1]), np.array([0.2, 0.3]))


def test_criteo_tsv_round_trips(tmp_path: Path, schema: Schema) -> None:
    path = write_tsv(tmp_path / "day_0.tsv", schema, 200)
    loaded, original = load_tsv(path, schema), generate(schema, 200, 0)
    assert loaded.skipped == 0
    np.testing.assert_array_equal(loaded.dense, original.dense)
    np.testing.assert_array_equal(loaded.categorical, original.categorical)  # blanks in the last column survive
    np.testing.assert_array_equal(loaded.label, original.label)
    assert len(load_tsv(path, schema, max_rows=50)) == 50


def test_malformed_values_are_skipped_and_counted(tmp_path: Path, schema: Schema) -> None:
    path = write_tsv(tmp_path / "day_0.tsv", schema, 20)
    lines = path.read_text().splitlines()
    bad_dense = lines[3].split("\t")
    bad_dense[2] = "1.5x"
    bad_label = lines[7].split("\t")
    bad_label[0] = "2"
    lines[3], lines[7] = "\t".join(bad_dense), "\t".join(bad_label)
    path.write_text("\n".join(lines) + "\n")
    loaded = load_tsv(path, schema)
    assert (len(loaded), loaded.skipped) == (18, 2)


def test_wrong_column_count_names_file_and_line(tmp_path: Path, schema: Schema) -> None:
    path = write_tsv(tmp_path / "day_0.tsv", schema, 10)
    lines = path.read_text().splitlines()
    lines[4] = lines[4].rsplit("\t", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}, line 5: 39 tab-separated columns, the schema expects 40"):
        load_tsv(path, schema)


def test_missing_data_file(tmp_path: Path, schema: Schema) -> None:
    with pytest.raises(DataError, match="not found"):
        load_tsv(tmp_path / "missing.tsv", schema)
