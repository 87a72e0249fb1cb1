"""The labs' figures: after the workshop's test run, the plots its reports hold are copied, each with
the lab command that made it, to where the site build reads them (site_hooks.figures_dir)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .labs import Step

# (folder in the site, the run folder in the lab project, the line of the lab command that made it).
# Run folders are <timestamp>-<scenario>: the digit keeps *-batching from matching *-tune-batching.
SETS = (
    ("batching", "reports/*[0-9]-batching", "loadtest batching --levels"),
    ("tune-batching", "reports/*[0-9]-tune-batching", "loadtest tune-batching --budget"),
    ("swap", "reports/*[0-9]-swap", "loadtest swap --users"),
    ("dashboards", "reports/dashboards-preview", "make dashboards-preview"),
)


def collect(project: Path, steps: list[Step], destination: Path) -> list[dict[str, Any]]:
    """Copy the newest run's PNGs of each set into destination/<set>/ and write figures.json."""
    shutil.rmtree(destination, ignore_errors=True)
    figures = []
    for name, pattern, marker in SETS:
        runs = sorted(project.glob(pattern))
        assert runs, f"the labs made no {pattern} in {project}"
        step = next(step for step in steps if marker in step.command)
        command = next(line.strip() for line in step.command.splitlines() if marker in line)
        pngs = sorted(runs[-1].glob("*.png"))
        assert pngs, f"{runs[-1]} holds no figure"
        for png in pngs:
            (destination / name).mkdir(parents=True, exist_ok=True)
            shutil.copy2(png, destination / name / png.name)
            figures.append({"path": f"{name}/{png.name}", "lab": step.where, "command": command,
                            "run": str(runs[-1].relative_to(project))})
    (destination / "figures.json").write_text(json.dumps(figures, indent=2))
    return figures
