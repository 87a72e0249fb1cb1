"""The project's single command line: `python -m {{ cookiecutter.package_name }} <command>`.

Subcommands live beside the code they drive and are imported only when run, so `--help`
answers instantly instead of waiting for TensorFlow to import.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" (relative to this package)
COMMANDS: dict[str, str] = {
    "train": ".train:train_command",
    "export": ".export.cli:export_command",
    "publish": ".export.cli:publish_command",
    "verify": ".export.cli:verify_command",
    "serve": ".stack.cli:serve_command",
    "stop": ".stack.cli:stop_command",
    "status": ".stack.cli:status_command",
    "loadtest": ".loadtest.cli:loadtest_group",
    "bench": ".serving.bench:bench_command",
    "dashboards": ".dashboards.cli:dashboards_group",
    "summary": ".summary:summary_command",
    "certs": ".certs:certs_command",
    "soak": ".soak:soak_command",
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
        module = importlib.import_module(module_name, package=__package__)
        return getattr(module, attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="{{ cookiecutter.project_slug }}")
def main() -> None:
    """Train, export, serve and load-test the {{ cookiecutter.model_name }} CTR model."""
