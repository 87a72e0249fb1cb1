"""The project's single command line: `python -m {{ cookiecutter.package_name }} <command>` (the Makefile's targets call it).

Each command lives in a module of this package that reads options and prints; the stage modules
it calls do the work and know nothing of click. The stack's commands (serve, stop, status, images,
certs, alerts) are the tfserving-stack package's, acting on this project. Modules are imported only
when their command runs, so `--help` answers at once instead of waiting for TensorFlow. An expected
failure (a ProjectError, or the toolkit's or the stack's error) prints one `Error: ...` line and
exits with status 1.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from tfserving_stack.cli import use_project
from tfserving_stack.errors import StackError

from ..errors import ProjectError, ToolkitError
from ..settings import project

# command name -> "module:attribute", the module in this package, or absolute (the stack's commands)
COMMANDS: dict[str, str] = {
    "train": "train:train_command",
    "export": "export:export_command",
    "publish": "export:publish_command",
    "verify": "export:verify_command",
    "serve": "tfserving_stack.cli:serve_command",
    "stop": "tfserving_stack.cli:stop_command",
    "status": "tfserving_stack.cli:status_command",
    "images": "tfserving_stack.cli:images_group",
    "loadtest": "loadtest:loadtest_group",
    "bench": "loadtest:bench_command",
    "soak": "loadtest:soak_command",
    "dashboards": "dashboards:dashboards_group",
    "canary": "canary:canary_command",
    "summary": "summary:summary_command",
    "certs": "tfserving_stack.cli:certs_command",
    "alerts": "tfserving_stack.cli:alerts_group",
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
        module = importlib.import_module(module_name if "." in module_name else f".{module_name}", package=__package__)
        command: click.Command = getattr(module, attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ProjectError, ToolkitError, StackError) as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="{{ cookiecutter.project_slug }}")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Train, export, serve and load-test the {{ cookiecutter.model_name }} CTR model."""
    use_project(ctx, project)
