"""The packages in packages/ (the embedded server, the load-test toolkit, the stack): their own
suites run once here, their wheels and sdists build and pass `twine check`, a wheel installs into a
clean venv and its console script answers, they import nothing from the template, and a rendering
carries them as wheels, not source."""

from __future__ import annotations

import filecmp
import os
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

from .helpers import REPO, TF_SERVING_TESTDATA

PACKAGES = sorted(p for p in (REPO / "packages").iterdir() if (p / "pyproject.toml").is_file())


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_the_package_suite_passes(package: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    if TF_SERVING_TESTDATA.is_dir():
        env.setdefault("TF_SERVING_TESTDATA", str(TF_SERVING_TESTDATA))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=package, env=env,
                            capture_output=True, text=True, timeout=1800)
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_wheel_and_sdist_build_check_and_install(package: Path, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(package)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    checked = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # A clean venv, the wheel alone (its dependencies, TensorFlow included, are not needed for --help),
    # with its command-line library when that is not the standard library's argparse.
    clean = tmp_path / "clean"
    venv.create(clean, with_pip=True)
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    cli_library = [dependency for dependency in project["dependencies"] if dependency.startswith("click")]
    installed = subprocess.run([clean / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-deps", str(wheels[0]),
                                *cli_library], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    assert project["scripts"], "the package has a console script"
    for script in project["scripts"]:
        answered = subprocess.run([clean / "bin" / script, "--help"], capture_output=True, text=True, timeout=60)
        assert answered.returncode == 0 and answered.stdout.lower().startswith("usage:"), answered.stderr


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_the_package_imports_nothing_from_the_template(package: Path) -> None:
    template_packages = {"ctr_serving", "{{", "cookiecutter"}
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if any(re.search(rf"^\s*(from|import)\s+{re.escape(name)}", path.read_text(), re.M)
                        for name in template_packages) or "{{ cookiecutter" in path.read_text()]
    assert not offenders, offenders


def test_a_rendering_carries_the_packages_as_wheels_not_source(tmp_path: Path) -> None:
    from .helpers import render

    project = render(tmp_path, {})
    for package in PACKAGES:
        module = package / "src" / package.name.replace("-", "_")
        assert list((project / "wheels").glob(f"{module.name}-*-py3-none-any.whl")), list((project / "wheels").iterdir())
        copies = [str(found.relative_to(project)) for source in module.rglob("*.py") if source.stat().st_size > 200
                  for found in project.rglob(source.name) if filecmp.cmp(source, found, shallow=False)]
        assert not copies, copies
    pins = (project / "requirements.txt").read_text()
    assert "--find-links wheels" in pins and all(f"\n{package.name}==" in pins for package in PACKAGES), pins


def test_upgrade_packages_rebuilds_the_wheels_and_moves_the_pins(tmp_path: Path) -> None:
    """`make upgrade-packages TEMPLATE=...` (its first step; the second is `make setup`): a newer
    template's package version replaces the old wheel and becomes the pin in both files."""
    import shutil

    from .helpers import render

    project = render(tmp_path / "render", {})
    newer = tmp_path / "newer-template"
    shutil.copytree(REPO / "packages", newer / "packages",
                    ignore=shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__"))
    pyproject = newer / "packages" / "embedded-tfserving" / "pyproject.toml"
    old = re.search(r'^version = "([^"]+)"', pyproject.read_text(), re.M)
    assert old is not None
    bumped = old[1] + ".post1"
    pyproject.write_text(pyproject.read_text().replace(f'version = "{old[1]}"', f'version = "{bumped}"'))
    result = subprocess.run([sys.executable, "-m", "ctr_serving", "upgrade-packages", "--template", str(newer)],
                            cwd=project, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"requirements.txt: embedded-tfserving {old[1]} -> {bumped}" in result.stdout
    embedded = [w.name for w in (project / "wheels").glob("embedded_tfserving-*.whl")]
    assert embedded == [f"embedded_tfserving-{bumped}-py3-none-any.whl"]
    assert len(list((project / "wheels").glob("*.whl"))) == len(PACKAGES)  # one wheel per package, no stale one
    for name in ("requirements.txt", "pyproject.toml"):
        assert f"embedded-tfserving=={bumped}" in (project / name).read_text()
    missing = subprocess.run([sys.executable, "-m", "ctr_serving", "upgrade-packages", "--template", str(tmp_path)],
                             cwd=project, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no package (a folder with a pyproject.toml) under" in missing.stderr
