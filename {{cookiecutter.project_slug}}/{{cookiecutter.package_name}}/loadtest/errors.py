"""Expected failures of a load test: reported as one clear line, with a non-zero exit."""

import click


class LoadTestError(click.ClickException):
    """Raised before load starts (server, model, schema) or when a scenario's check fails."""
