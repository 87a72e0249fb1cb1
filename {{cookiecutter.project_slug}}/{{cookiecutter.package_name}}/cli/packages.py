"""`upgrade-packages`: the project's wheels/ rebuilt from a newer checkout of the template, pins moved."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ProjectError
from ..settings import PROJECT_ROOT
from ..wheels import WheelError, build_wheels, pin


@click.command("upgrade-packages")
@click.option("--template", "template", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True,
              help="a checkout of the template this project was generated from (its packages/ folder)")
def upgrade_packages_command(template: Path) -> None:
    """Rebuild wheels/ from TEMPLATE/packages and move the pins in requirements.txt and pyproject.toml
    to the built versions (`make upgrade-packages` then installs them)."""
    try:
        built = build_wheels(template / "packages", PROJECT_ROOT / "wheels")
        changes = pin([PROJECT_ROOT / "requirements.txt", PROJECT_ROOT / "pyproject.toml"], built)
    except WheelError as error:
        raise ProjectError(str(error)) from None
    for name, wheel in built.items():
        click.echo(f"{name}: {wheel.relative_to(PROJECT_ROOT)}")
    click.echo("\n".join(changes) if changes else "pins unchanged (same versions)")
