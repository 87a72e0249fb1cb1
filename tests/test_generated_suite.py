"""Run each rendered project's own test suite with the shared venv.

The default rendering runs everything (end-to-end tests included); the other answer sets run the
fast tests of what their answers change (names, ports, batch size, GPU image: settings, compose,
Kubernetes, dashboards, the workflow, the contract, the GPU export), not those of the stages that
no answer touches (data, model, training, the TensorFlow loader), which train and load models for
a minute per rendering and would only repeat the default's run.
"""

from __future__ import annotations

from pathlib import Path

from .helpers import run_make


def test_generated_suite_passes(rendered: tuple[str, Path]) -> None:
    name, project = rendered
    unchanged = ["test_data.py", "test_model.py", "test_train_export.py", "test_tf_loader.py", "test_cli_errors.py"]
    selection = "" if name == "default" else " ".join(["-m 'not slow'", *(f"--ignore=tests/{t}" for t in unchanged)])
    result = run_make(project, "test", extra={"PYTEST_ARGS": f"-q -p no:cacheprovider {selection}".strip()})
    print(result.stdout[-6000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
