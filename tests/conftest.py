"""Render the template once per answer set; tests share the renderings."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import VARIANTS, render


@pytest.fixture(scope="session", params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = request.param
    return name, render(tmp_path_factory.mktemp(f"render-{name}"), VARIANTS[name])
