"""`tfserving-stack serve`, `status` and `stop` in embedded mode on a project serving half_plus_two:
the server started from the compose file's command answers TF Serving's REST API, `status` names
what runs, `stop` stops exactly that; refusals change nothing."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tfserving_stack.project import Project

from .conftest import stack

pytestmark = pytest.mark.slow


def test_serve_status_stop_on_half_plus_two(make_project) -> None:
    root = make_project()
    project = Project.load(root)
    rest = f"http://127.0.0.1:{project.port('REST_PORT')}"
    try:
        served = stack(root, "serve", "--mode", "embedded", "--no-prometheus", timeout=300)
        assert served.returncode == 0, served.stdout + served.stderr
        assert "embedded server is up" in served.stdout
        assert f"REST     {rest}/v1/models/half_plus_two" in served.stdout
        request = urllib.request.Request(f"{rest}/v1/models/half_plus_two:predict", method="POST",
                                         data=json.dumps({"instances": [1.0, 2.0, 5.0]}).encode())
        with urllib.request.urlopen(request, timeout=10) as reply:
            assert json.load(reply) == {"predictions": [2.5, 3.0, 4.5]}
        status = stack(root, "status")
        assert status.returncode == 0, status.stderr
        assert "embedded server: running" in status.stdout, status.stdout
        assert "model half_plus_two: version 123 AVAILABLE" in status.stdout, status.stdout
        again = stack(root, "serve", "--mode", "embedded", "--no-prometheus")
        assert again.returncode == 1 and "the embedded stack already runs" in again.stderr
    finally:
        stopped = stack(root, "stop", DOCKER_HOST="unix:///nonexistent.sock")
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped server (pid" in stopped.stdout
    assert "nothing is running" in stack(root, "status", DOCKER_HOST="unix:///nonexistent.sock").stdout


def test_serve_refuses_without_a_model_or_with_a_taken_port(make_project) -> None:
    import socket

    root = make_project(with_model=False)
    refused = stack(root, "serve", "--mode", "embedded", "--no-prometheus")
    assert refused.returncode == 1
    assert "no published version of model 'half_plus_two'" in refused.stderr and "run/embedded" not in refused.stderr
    assert not (root / "run" / "embedded").exists() or not list((root / "run" / "embedded").glob("*.pid*"))

    project = Project.load(root)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", project.port("REST_PORT")))
        holder.listen()
        (root / "models" / "half_plus_two" / "00000001").mkdir()
        (root / "models" / "half_plus_two" / "00000001" / "saved_model.pb").write_bytes(b"")
        taken = stack(root, "serve", "--mode", "embedded", "--no-prometheus")
    assert taken.returncode == 1, taken.stdout
    assert f"REST_PORT={project.port('REST_PORT')} is in use by python (pid" in taken.stderr, taken.stderr


def test_the_readme_example_runs_as_written(half_plus_two_path, tmp_path) -> None:
    """The README's half_plus_two block, in bash, on free ports instead of 8501 and 8500."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    from embedded_tfserving.process import free_port

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## Against TF Serving's half_plus_two\n.*?```bash\n(.*?)```", readme, re.S)
    assert block, "the README's example moved"
    rest, grpc = free_port(), free_port()
    script = block[1].replace("8501", str(rest)).replace("8500", str(grpc))
    bin_dir = Path(sys.executable).parent
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "TESTDATA": str(half_plus_two_path.parent), "HOME": str(tmp_path),
           "DOCKER_HOST": "unix:///nonexistent.sock"}
    ran = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    try:
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert '"predictions":[2.5,3.0,4.5]' in "".join(ran.stdout.split()), ran.stdout  # curl's reply
        assert "model half_plus_two: version 123 AVAILABLE" in ran.stdout and "stopped server (pid" in ran.stdout
    finally:
        subprocess.run([bin_dir / "tfserving-stack", "--project-dir", str(tmp_path / "hpt"), "stop"], env=env,
                       capture_output=True, timeout=60)
