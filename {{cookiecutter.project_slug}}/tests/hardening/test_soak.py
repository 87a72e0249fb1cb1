"""`soak` end to end, shortened: a real CTR model, mixed load, a publish and a malformed burst."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.loadtest.soak import run_soak
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT


@pytest.mark.slow
def test_short_soak_serves_everything_through_faults(published_model, tmp_path: Path) -> None:
    out = tmp_path / "soak"
    result = run_soak(published_model.models_dir, published_model.name, out, seconds=10, interval=2,
                      fault_every=3, clients=2, batching_file=PROJECT_ROOT / "compose" / "batching.conf",
                      echo=lambda line: None)
    assert result.outcomes["ok"] > 50
    assert result.unexpected == {}, result.outcomes
    assert sum(v for k, v in result.outcomes.items() if k.startswith("malformed_4")) >= 30
    assert [f["fault"] for f in result.faults][:2] == ["publish", "malformed_burst"]
    assert (out / "models" / published_model.name / "2").is_dir()
    assert not (published_model.base_path / "2").exists()  # faults never touch the real models folder
    report = json.loads((out / "soak.json").read_text())
    assert report["server_exit_code"] == 0 and report["rss_end_mb"] > 0
    assert len(report["intervals"]) >= 4 and all(i["p99_ms"] is not None for i in report["intervals"][:4])
    # Intervals and faults count from the same start: every 2 s and every 3 s.
    assert [i["t"] for i in report["intervals"][:4]] == pytest.approx([0, 2, 4, 6], abs=0.5)
    assert [f["t"] for f in report["faults"][:2]] == pytest.approx([3, 6], abs=0.5)


def test_soak_and_certs_are_cli_commands() -> None:
    for command in ("soak", "certs"):
        result = subprocess.run([sys.executable, "-m", "{{ cookiecutter.package_name }}", command, "--help"],
                                cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and "Usage" in result.stdout, result.stderr
