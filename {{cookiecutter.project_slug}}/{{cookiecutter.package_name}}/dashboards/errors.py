"""Expected failures of the dashboards commands: printed without a traceback."""

from __future__ import annotations

import click


class DashboardError(click.ClickException):
    """A failure the user can fix; the message names the thing and the fix."""
