"""`soak` end to end, shortened: a real CTR model, mixed load, a publish and a malformed burst."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT


@pytest.mark.slow
def test_short_soak_serves_everything_through_faults(published_model, tmp_path: Path) -> None:
    out = tmp_path / "soak"
    done = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", "soak", "--duration", "10",
                           "--interval", "2", "--fault-every", "3", "--clients", "2", "--output", str(out),
                           "--models-dir", str(published_model.models_dir), "--model-name", published_model.name],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "soak.json").read_text())
    assert report["outcomes"]["ok"] > 50
    assert report["unexpected"] == {}, report["outcomes"]
    assert sum(v for k, v in report["outcomes"].items() if k.startswith("malformed_4")) >= 30
    assert [f["fault"] for f in report["faults"]][:2] == ["publish", "malformed_burst"]
    assert (out / "models" / published_model.name / "2").is_dir()
    assert not (published_model.base_path / "2").exists()  # faults never touch the real models folder
    assert report["rss_end_mb"] > 0 and "server RSS" in done.stdout
    assert len(report["intervals"]) >= 4 and all(i["p99_ms"] is not None for i in report["intervals"][:4])
    # Intervals and faults count from the same start: every 2 s and every 3 s.
    assert [i["t"] for i in report["intervals"][:4]] == pytest.approx([0, 2, 4, 6], abs=0.5)
    assert [f["t"] for f in report["faults"][:2]] == pytest.approx([3, 6], abs=0.5)


def test_soak_and_certs_are_cli_commands() -> None:
    for command in ("soak", "certs"):
        result = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", command, "--help"],
                                cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "Usage" in result.stdout, result.stderr
