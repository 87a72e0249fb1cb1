"""The standalone clients in examples/ score rows on the embedded server serving the project's model,
and import nothing of the project: an application can copy them as they are."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from embedded_tfserving.process import ServerProcess

from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

EXAMPLES = PROJECT_ROOT / "examples"
LINE = re.compile(r"^click probability: (0\.\d{4}|1\.0000)$")


def test_the_clients_import_nothing_of_the_project() -> None:
    for client in EXAMPLES.glob("*.py"):
        text = client.read_text()
        assert not re.search(r"^\s*(from|import)\s+({{ cookiecutter.package_name }}|embedded_tfserving|tests)\b", text, re.M), client


@pytest.mark.slow
def test_both_clients_score_rows(published_model, tmp_path: Path) -> None:
    flags = [f"--model_name={published_model.name}", f"--model_base_path={published_model.base_path}"]
    with ServerProcess(flags, tmp_path / "server.log") as server:
        server.start()
        clients = (("rest_client.py", ["--url", server.rest_url]), ("grpc_client.py", ["--target", server.grpc_target]))
        for client, address in clients:
            # Run from elsewhere, with no project on the path: as an application runs it.
            done = subprocess.run([sys.executable, str(EXAMPLES / client), *address, "--model", published_model.name,
                                   "--rows", "3"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                                  env={"PATH": "/usr/bin:/bin", "TF_CPP_MIN_LOG_LEVEL": "3"})
            assert done.returncode == 0, done.stderr[-3000:]
            lines = done.stdout.strip().splitlines()
            assert len(lines) == 3 and all(LINE.match(line) for line in lines), done.stdout
        refused = subprocess.run([sys.executable, str(EXAMPLES / "rest_client.py"), "--url", server.rest_url,
                                  "--model", "no-such-model"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and "HTTP 404: Servable not found for request" in refused.stderr
