"""Expected failures of the stack commands: click prints the message, no traceback."""

from __future__ import annotations

import click


class StackError(click.ClickException):
    """A failure the user can fix; the message names the thing and the fix."""
