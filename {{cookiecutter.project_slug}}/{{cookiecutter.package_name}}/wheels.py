"""The packages this project installs from its own wheels/ folder (the embedded server and the
load-test toolkit), built from a checkout of the template: at generation (the template's
post-generation hook imports this file, before any venv exists: standard library only) and by
`make upgrade-packages`.

The packages are not on a package index yet, so `requirements.txt` finds them with `--find-links
wheels`, and wheels/ is committed with the project: `make setup` needs nothing but PyPI, also in a
clone of the project's repository on another machine.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WHEEL_NAME = re.compile(r"(?P<name>[^-]+)-(?P<version>[^-]+)-.*\.whl")


class WheelError(Exception):
    pass


def build_wheels(packages: Path, wheels: Path) -> dict[str, Path]:
    """Build every package under `packages` (folders with a pyproject.toml) into `wheels`, replacing
    older wheels of the same distributions; {distribution name: wheel}."""
    sources = sorted(p for p in packages.iterdir() if (p / "pyproject.toml").is_file()) if packages.is_dir() else []
    if not sources:
        raise WheelError(f"no package (a folder with a pyproject.toml) under {packages}")
    wheels.mkdir(exist_ok=True)
    # Without build isolation when setuptools is at hand (fast, offline); else pip fetches it from PyPI.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    built: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for package in sources:
            # From a clean copy: setuptools builds in the source tree, where a stale build/ would put
            # deleted modules back into the wheel.
            source = Path(scratch) / "src" / package.name
            shutil.copytree(package, source, ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
            out = Path(scratch) / "out" / package.name
            done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation, "-w",
                                   str(out), str(source)], capture_output=True, text=True)
            if done.returncode != 0:
                raise WheelError(f"building the wheel of {package} failed:\n{done.stdout}{done.stderr}")
            wheel = next(out.glob("*.whl"))
            name = distribution(wheel)
            for old in wheels.glob("*.whl"):
                if distribution(old) == name:
                    old.unlink()
            built[name] = Path(shutil.copy(wheel, wheels / wheel.name))
    return built


def _parts(wheel: Path) -> re.Match[str]:
    match = WHEEL_NAME.fullmatch(wheel.name)
    if match is None:
        raise WheelError(f"{wheel.name} is not a wheel file name")
    return match


def distribution(wheel: Path) -> str:
    """The normalized distribution name of a wheel file (embedded_tfserving-0.1.0-... -> embedded-tfserving)."""
    return _parts(wheel)["name"].lower().replace("_", "-")


def version(wheel: Path) -> str:
    return _parts(wheel)["version"]


def pin(files: list[Path], built: dict[str, Path]) -> list[str]:
    """Point the `name==version` pins in `files` (requirements.txt, pyproject.toml) at the built
    wheels; the changes, as `name: old -> new`."""
    changes = []
    for name, wheel in built.items():
        new = version(wheel)
        pattern = re.compile(rf"(?<![\w-]){re.escape(name)}==([\w.+!-]+)")
        for path in files:
            text = path.read_text()
            found = pattern.search(text)
            if found is None:
                raise WheelError(f"{path.name} has no {name}==<version> pin to move")
            if found[1] != new:
                changes.append(f"{path.name}: {name} {found[1]} -> {new}")
            path.write_text(pattern.sub(f"{name}=={new}", text))
    return changes
