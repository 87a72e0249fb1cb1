"""Build the template's packages (packages/*: the embedded server) into the new project's wheels/.

Cookiecutter runs this file, with the answers substituted, in the new project's folder, with its own
Python (no project venv yet); a failure removes the project. The building itself is the project's
own `wheels.py` (standard library only), which `make upgrade-packages` uses later.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TEMPLATE = Path("{{ cookiecutter._repo_dir | absolute }}")
WHEELS_MODULE = Path("{{ cookiecutter.package_name }}") / "wheels.py"

if __name__ == "__main__":
    spec = importlib.util.spec_from_file_location("project_wheels", WHEELS_MODULE)
    assert spec is not None and spec.loader is not None
    wheels = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wheels)
    try:
        wheels.build_wheels(TEMPLATE / "packages", Path.cwd() / "wheels")
    except wheels.WheelError as error:
        sys.exit(f"ERROR: {error}")
