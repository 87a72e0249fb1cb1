"""Render the template once per answer set; tests share the renderings. At the end, say where the
run left its artifacts (the site's screenshots, the labs' figures)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from .helpers import VARIANTS, render

_STARTED = pytest.StashKey[float]()


@pytest.fixture(scope="session", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = request.param
    return name, render(tmp_path_factory.mktemp(f"render-{name}"), VARIANTS[name])


# Tests that must not run at the same time as each other: they use the default ports (8501, 9090...)
# as a user's project does, and the site is built from the labs' figures.
DEFAULT_PORTS_LANE = ("test_demo.py", "test_workshop.py", "test_workshop_site.py")


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """The lanes of `make test` (pytest-xdist, `-n 2`): the default-ports tests are one unit of work,
    run in order in one lane; every other test (the default rendering's whole suite the longest) is a
    unit of its own, run wherever a lane is free. (xdist's own `--dist loadgroup` marks do not reach
    pytest 9's test ids, hence this scheduler.)"""
    from xdist.scheduler import LoadScopeScheduling

    class Lanes(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.split("::")[0].rsplit("/", 1)[-1] in DEFAULT_PORTS_LANE:
                return "default-ports"
            return nodeid

    return Lanes(config, log)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.time()


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Where this run left its artifacts: the site's screenshots and the labs' figures (those written
    by this run only)."""
    from site_hooks import figures_dir

    from .test_workshop_site import SCREENSHOTS

    started = config.stash.get(_STARTED, time.time())
    written = [path for path in [*sorted(SCREENSHOTS.glob("*.png")), figures_dir() / "figures.json"]
               if path.is_file() and path.stat().st_mtime >= started]
    if written:
        terminalreporter.section("artifacts")
        for path in written:
            terminalreporter.write_line(f"{'screenshot' if path.suffix == '.png' else 'figures'}: {path}")
