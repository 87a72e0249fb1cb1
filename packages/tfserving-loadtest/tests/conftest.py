"""Fixtures of the toolkit's tests: TF Serving's half_plus_two test model (y = 0.5 * x + 2) served by
the embedded server, and the README's request file for it, in TF Serving's REST format. The test models are found
through TF_SERVING_TESTDATA, else a `shared/fixtures/tf_serving_testdata` beside any ancestor folder;
without them the tests that load them skip."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
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
def polled_copy(half_plus_two_path: Path, tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    """(the embedded server, its base path): a copy of half_plus_two that the tests publish versions
    into, served with TF Serving's default poll of the base path (1 s)."""
    import shutil

    base = tmp_path / "half_plus_two"
    shutil.copytree(half_plus_two_path, base)
    with ServerProcess(["--model_name=half_plus_two", f"--model_base_path={base}"], tmp_path / "server.log") as server:
        yield server.start(), base


def config_text(name: str, base_path: Path | str) -> str:
    """A models.config serving the two newest versions of one model, as TF Serving reads it."""
    return ("model_config_list {\n  config {\n"
            f'    name: "{name}"\n    base_path: "{base_path}"\n    model_platform: "tensorflow"\n'
            "    model_version_policy { latest { num_versions: 2 } }\n  }\n}\n")


@pytest.fixture()
def request_file(tmp_path: Path) -> Path:
    """The README's requests.json for half_plus_two."""
    found = re.search(r"^echo '(.+)' > requests.json$", README.read_text(), re.M)
    assert found, "the README's request file moved"
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(json.loads(found.group(1))))
    return path


@pytest.fixture()
def prometheus(tmp_path: Path) -> Iterator[tuple[str, Path, Callable[[], None]]]:
    """A Prometheus (Debian's `prometheus`) on a free loopback port: yields (its URL, the config
    file it reads, `start`); the test writes its scrape jobs into the file, then starts it. Skips
    without the binary unless REQUIRE_PROMETHEUS=1."""
    import os
    import shutil

    from embedded_tfserving.process import ChildProcess, free_port

    from tfserving_loadtest.preflight import answers

    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("REQUIRE_PROMETHEUS") == "1":
            pytest.fail("prometheus is not on the PATH (apt-get install prometheus)")
        pytest.skip("prometheus is not on the PATH (apt-get install prometheus)")
    port, config = free_port(), tmp_path / "prometheus.yml"
    url = f"http://127.0.0.1:{port}"
    process = ChildProcess([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                            f"--web.listen-address=127.0.0.1:{port}"], tmp_path / "prometheus.log")

    def start() -> None:
        process.spawn()
        process.wait_until(lambda: answers(f"{url}/-/ready"), 60, "Prometheus")

    try:
        yield url, config, start
    finally:
        process.stop()
