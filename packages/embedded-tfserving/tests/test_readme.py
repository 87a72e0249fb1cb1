"""The README's first steps, as a user outside any project runs them: the installed console script
on TF Serving's half_plus_two test model, then the README's curl body, answered as the README says."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import requests

from embedded_tfserving.process import ChildProcess, free_port

README = Path(__file__).resolve().parents[1] / "README.md"
pytestmark = pytest.mark.slow


def test_the_readme_s_half_plus_two_steps(tf_serving_testdata: Path, tmp_path: Path) -> None:
    text = README.read_text()
    body = re.search(r"curl -d '([^']+)' http://localhost:8501/v1/models/half_plus_two:predict", text)
    expected = re.search(r"```text\n(\{\"predictions\".*)\n```", text)
    assert body and expected, "the README's half_plus_two steps moved"
    script = shutil.which("embedded-tfserving", path=str(Path(sys.executable).parent))
    assert script, "the console script is not installed beside this Python (pip install the package)"
    rest_port = free_port()
    server = ChildProcess([script, f"--port={free_port()}", f"--rest_api_port={rest_port}", "--model_name=half_plus_two",
                           f"--model_base_path={tf_serving_testdata / 'saved_model_half_plus_two_tf2_cpu'}"],
                          tmp_path / "server.log")
    url = f"http://127.0.0.1:{rest_port}/v1/models/half_plus_two"

    def available() -> bool:
        try:
            return "AVAILABLE" in requests.get(url, timeout=2).text
        except requests.ConnectionError:
            return False

    with server:
        server.spawn()
        server.wait_until(available, 120, "embedded-tfserving on half_plus_two")
        answer = requests.post(f"{url}:predict", data=body.group(1), timeout=30)
    assert answer.status_code == 200 and answer.text == expected.group(1)
