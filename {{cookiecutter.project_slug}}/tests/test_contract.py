"""The contract every stage shares: versions on disk, the AVAILABLE probe, requests, API keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tensorflow as tf

from embedded_tfserving.auth import read_api_keys
from embedded_tfserving.process import free_port

from {{ cookiecutter.package_name }}.contract import (
    SIGNATURE,
    Access,
    grpc_predict_request,
    is_available,
    published_versions,
    rest_predict_body,
    signature_spec,
)
from {{ cookiecutter.package_name }}.data.schema import Schema
from {{ cookiecutter.package_name }}.data.synthetic import generate


def test_published_versions_are_integer_named_folders(tmp_path: Path) -> None:
    for name in ("1", "00000123", ".tmp-7", "notes", "12abc"):
        (tmp_path / name).mkdir()
    (tmp_path / "9").write_text("a file, not a version")
    assert published_versions(tmp_path) == {1: tmp_path / "1", 123: tmp_path / "00000123"}
    assert published_versions(tmp_path / "missing") == {}


def test_requests_carry_the_same_rows_over_rest_and_grpc(schema: Schema) -> None:
    rows = generate(schema, 4, seed=3)
    body = json.loads(rest_predict_body(rows))
    assert [instance["categorical"] for instance in body["instances"]] == rows.categorical.tolist()
    assert body["instances"][0]["dense"] == pytest.approx(rows.dense[0].tolist())
    request = grpc_predict_request("ctr", rows)
    assert (request.model_spec.name, request.model_spec.signature_name) == ("ctr", SIGNATURE)
    spec = signature_spec(schema)["inputs"]
    for name, array in (("dense", rows.dense), ("categorical", rows.categorical)):
        tensor = tf.make_ndarray(request.inputs[name])
        assert tensor.dtype.name.replace("object", "string") == spec[name]["dtype"]
        assert tensor.shape == (4, spec[name]["shape"][1])
        assert tensor.tolist() == (array.astype(object).astype(bytes).tolist() if name == "categorical" else array.tolist())


def test_a_server_that_does_not_answer_is_not_available() -> None:
    assert not is_available(f"http://127.0.0.1:{free_port()}", "ctr")


def test_api_keys_and_access_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "api_keys.txt"
    keys.write_text("# one key per line\n\nfirst-key  # comment\nsecond-key\n")
    assert read_api_keys(keys) == ["first-key", "second-key"]
    monkeypatch.delenv("SERVING_API_KEY", raising=False)
    monkeypatch.setenv("SERVING_API_KEY_FILE", str(keys))
    monkeypatch.setenv("SERVING_CA_FILE", str(tmp_path / "ca.pem"))
    access = Access.from_environment()
    assert access.headers() == {"Authorization": "Bearer first-key"}
    assert access.grpc_metadata() == (("authorization", "Bearer first-key"),)
    assert access.verify == str(tmp_path / "ca.pem")
    monkeypatch.setenv("SERVING_API_KEY", "explicit")
    assert Access.from_environment().api_key == "explicit"
    assert Access().headers() == {} and Access().verify is True and Access().grpc_credentials() is None
