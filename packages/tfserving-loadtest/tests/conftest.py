"""Fixtures of the toolkit's tests: TF Serving's half_plus_two test model (y = 0.5 * x + 2) served by
the embedded server, and the README's request file for it, in TF Serving's REST format. The test models are found
through TF_SERVING_TESTDATA, else a `shared/fixtures/tf_serving_testdata` beside any ancestor folder;
without them the tests that load them skip."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import tf_serving_testdata_dir

HALF_PLUS_TWO = "saved_model_half_plus_two_tf2_cpu"
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture(scope="session")
def half_plus_two_path() -> Path:
    found = tf_serving_testdata_dir()
    if found is None or not (found / HALF_PLUS_TWO).is_dir():
        pytest.skip("TF Serving's test models not found: set TF_SERVING_TESTDATA or keep ../shared beside the project")
    return found / HALF_PLUS_TWO


@pytest.fixture(scope="session")
def half_plus_two(half_plus_two_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    with ServerProcess(["--model_name=half_plus_two", f"--model_base_path={half_plus_two_path}"], log) as server:
        yield server.start()


@pytest.fixture()
def request_file(tmp_path: Path) -> Path:
    """The README's requests.json for half_plus_two."""
    found = re.search(r"^echo '(.+)' > requests.json$", README.read_text(), re.M)
    assert found, "the README's request file moved"
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(json.loads(found.group(1))))
    return path
