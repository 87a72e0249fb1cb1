"""This project's load-test pieces: the signature check against the schema, the swap's restore."""

from __future__ import annotations

import pytest

from embedded_tfserving.process import free_port

from {{ cookiecutter.package_name }}.contract import published_versions
from {{ cookiecutter.package_name }}.errors import LoadTestError
from {{ cookiecutter.package_name }}.loadtest import preflight
from {{ cookiecutter.package_name }}.loadtest.scenarios import swap


def _metadata(inputs: dict) -> dict:
    return {"metadata": {"signature_def": {"signature_def": {"serving_default": {"inputs": inputs}}}}}


def _input(dtype: str, width: int) -> dict:
    return {"dtype": dtype, "tensor_shape": {"dim": [{"size": "-1"}, {"size": str(width)}]}}


def test_signature_matching_the_schema_passes():
    preflight.check_signature(_metadata({"dense": _input("DT_FLOAT", 13), "categorical": _input("DT_STRING", 26)}), "ctr")


def test_signature_mismatch_is_named():
    with pytest.raises(LoadTestError, match="does not take this project's schema"):
        preflight.check_signature(_metadata({"x": _input("DT_FLOAT", 1)}), "ctr")


def test_swap_restore_removes_the_runs_versions_and_says_when_the_earlier_one_does_not_serve(tmp_path):
    base = tmp_path / "ctr"
    for number in (1, 2, 3):
        (base / str(number)).mkdir(parents=True)
    nobody = f"http://127.0.0.1:{free_port()}"  # no server: version 1 never serves again
    with pytest.raises(LoadTestError, match="version 1 of ctr did not serve again within 1s"):
        swap.restore(base, {1}, nobody, "ctr", timeout=1)
    assert list(published_versions(base)) == [1]  # the run's versions are gone, the earlier one kept
