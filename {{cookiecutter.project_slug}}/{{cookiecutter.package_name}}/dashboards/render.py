"""Dashboards -> the JSON files under dashboards/ (the artefacts Grafana provisions)."""

from __future__ import annotations

import json
from pathlib import Path

from .definitions import DASHBOARDS


def render_all() -> dict[str, str]:
    """File name -> JSON text, stable (sorted keys, trailing newline) so diffs stay readable."""
    return {
        name: json.dumps(dashboard.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for name, dashboard in DASHBOARDS.items()
    }


def write_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_files(out_dir: Path) -> list[str]:
    """Generated files that are missing or differ from what the builder makes now."""
    stale = []
    for name, text in render_all().items():
        path = out_dir / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale
