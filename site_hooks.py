"""MkDocs hooks of the workshop site (mkdocs.yml).

- The packages' READMEs (packages/*/README.md) become pages, as they are: no copy to go stale.
- The labs' figures come from the labs' own test run (tests/test_workshop.py writes them, with
  figures.json saying which lab command made each, into build/workshop-figures, or WORKSHOP_FIGURES):
  they join the site under figures/, and a page lists them with their commands. Without them the
  build stops and names the command that makes them.
- Blocks the labs mark for their test runner (```bash title="docker-only"``` and
  title="needs-grafana") are shown inside an admonition saying what they need; the markdown, which
  the lab tests read, stays as it is.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

REPO = Path(__file__).resolve().parent
FIGURES_COMMAND = "make figures"
MARKED = re.compile(r'^```bash title="(docker-only|needs-grafana)"\n.*?^```$', re.M | re.S)
NOTES = {
    "docker-only": ("info", "Needs a Docker engine",
                    "This block runs where a Docker engine with Compose answers; without one, read along: "
                    "the embedded server stands in for everything else."),
    "needs-grafana": ("note", "Needs Grafana",
                      "Grafana runs only in the compose stack; without it, the previews above show the same "
                      "panels."),
}


def figures_dir() -> Path:
    return Path(os.environ.get("WORKSHOP_FIGURES") or REPO / "build" / "workshop-figures")


def read_figures(folder: Path) -> list[dict[str, str]]:
    """The figures of the labs' last test run; PluginError naming the command when there are none."""
    manifest = folder / "figures.json"
    if not manifest.is_file():
        raise PluginError(f"the labs' figures are not in {folder}: they come from the labs' own test run. "
                          f"`{FIGURES_COMMAND}` makes them (it runs the labs, about 8 minutes), or set "
                          "WORKSHOP_FIGURES to a folder that holds them")
    figures: list[dict[str, str]] = json.loads(manifest.read_text())
    missing = [figure["path"] for figure in figures if not (folder / figure["path"]).is_file()]
    if missing:
        raise PluginError(f"{manifest} lists figures that are not there ({', '.join(missing)}): "
                          f"run `{FIGURES_COMMAND}` again")
    return figures


def figures_page(figures: list[dict[str, str]]) -> str:
    rows = "\n".join(f"| [{figure['path']}](figures/{figure['path']}) | {figure['lab']} | `{figure['command']}` |"
                     for figure in figures)
    return ("# Figures\n\nEvery figure the labs show comes from the labs' own test run (`tests/test_workshop.py`, "
            f"or `{FIGURES_COMMAND}`): none is drawn by hand. Each was made by this lab command:\n\n"
            "| figure | lab step | command |\n|---|---|---|\n" + rows + "\n")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for readme in sorted((REPO / "packages").glob("*/README.md")):
        files.append(File.generated(config, f"packages/{readme.parent.name}.md", abs_src_path=str(readme)))
    folder = figures_dir()
    figures = read_figures(folder)
    for figure in figures:
        files.append(File.generated(config, f"figures/{figure['path']}", abs_src_path=str(folder / figure["path"])))
    files.append(File.generated(config, "figures.md", content=figures_page(figures)))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files, **_: Any) -> str:
    def admonition(block: re.Match[str]) -> str:
        kind, title, text = NOTES[block[1]]
        return f'!!! {kind} "{title}"\n    {text}\n\n' + textwrap.indent(block[0], "    ")

    return MARKED.sub(admonition, markdown)
