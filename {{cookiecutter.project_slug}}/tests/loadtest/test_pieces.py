"""This project's load-test pieces: the signature check against the schema."""

from __future__ import annotations

import pytest

from {{ cookiecutter.package_name }}.errors import LoadTestError
from {{ cookiecutter.package_name }}.loadtest import preflight


def _metadata(inputs: dict) -> dict:
    return {"metadata": {"signature_def": {"signature_def": {"serving_default": {"inputs": inputs}}}}}


def _input(dtype: str, width: int) -> dict:
    return {"dtype": dtype, "tensor_shape": {"dim": [{"size": "-1"}, {"size": str(width)}]}}


def test_signature_matching_the_schema_passes():
    preflight.check_signature(_metadata({"dense": _input("DT_FLOAT", 13), "categorical": _input("DT_STRING", 26)}), "ctr")


def test_signature_mismatch_is_named():
    with pytest.raises(LoadTestError, match="does not take this project's schema"):
        preflight.check_signature(_metadata({"x": _input("DT_FLOAT", 1)}), "ctr")
