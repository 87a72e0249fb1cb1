"""The project's single command line: `python -m {{ cookiecutter.package_name }} <command>` (the Makefile's targets call it).

Each command lives in a module of this package that reads options and prints; the stage modules
it calls do the work and know nothing of click. Modules are imported only when their command
runs, so `--help` answers at once instead of waiting for TensorFlow. An expected failure (a
ProjectError, or the load-test toolkit's error) prints one `Error: ...` line and exits with status 1.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from ..errors import ProjectError, ToolkitError

# command name -> "module:attribute" in this package
COMMANDS: dict[str, str] = {
    "train": "train:train_command",
    "export": "export:export_command",
    "publish": "export:publish_command",
    "verify": "export:verify_command",
    "serve": "serve:serve_command",
    "stop": "serve:stop_command",
    "status": "serve:status_command",
    "images": "images:images_group",
    "loadtest": "loadtest:loadtest_group",
    "bench": "loadtest:bench_command",
    "soak": "loadtest:soak_command",
    "dashboards": "dashboards:dashboards_group",
    "canary": "canary:canary_command",
    "summary": "summary:summary_command",
    "certs": "certs:certs_command",
    "alerts": "alerts:alerts_group",
    "upgrade-packages": "packages:upgrade_packages_command",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target.split(":")
        command: click.Command = getattr(importlib.import_module(f".{module_name}", package=__package__), attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ProjectError, ToolkitError) as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="{{ cookiecutter.project_slug }}")
def main() -> None:
    """Train, export, serve and load-test the {{ cookiecutter.model_name }} CTR model."""
