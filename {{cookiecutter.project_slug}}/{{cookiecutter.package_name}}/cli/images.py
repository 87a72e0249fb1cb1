"""`images`: local images for the compose stack, built without a registry, and .env pointing at them."""

from __future__ import annotations

import click

from ..stack import images
from ..stack.project import Project


@click.group("images")
def images_group() -> None:
    """Local images for the compose stack (no registry needed), and which ones .env uses."""


@images_group.command("build")
@click.option("--rebuild-base", is_flag=True, help="Make the Debian base image anew (it is kept between runs).")
def build_command(rebuild_base: bool) -> None:
    """Build the model server (which also runs Locust and the alert receiver), Prometheus, Alertmanager,
    nginx and balancer (HAProxy) images locally."""
    project = Project.load()
    settings = images.build(project, rebuild_base, say=lambda line: click.echo(line, err=True))
    for image in dict.fromkeys(settings.values()):
        click.echo(f"built {image} ({images.size(image)})")
    click.echo("\nTo run the compose stack on them, set in .env (`make use-local-images` does it):")
    for key, value in settings.items():
        click.echo(f"{key}={value}")
    click.echo("Grafana, the GPU image and NVIDIA's DCGM exporter have no local build: the stack runs without "
               "Grafana when its image cannot be pulled.")


@images_group.command("use-local")
def use_local_command() -> None:
    """Point .env at the images `images build` made."""
    project = Project.load()
    _write_env(project, images.local_settings(project))


@images_group.command("use-upstream")
def use_upstream_command() -> None:
    """Point .env back at the upstream images (the compose file's defaults)."""
    project = Project.load()
    _write_env(project, images.upstream_settings(project))


def _write_env(project: Project, settings: dict[str, str]) -> None:
    images.write_settings(project, settings)
    for key, value in settings.items():
        click.echo(f".env: {key}={value}")
