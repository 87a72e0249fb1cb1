"""The project's errors: one base, so the command line turns every expected failure into one clear
line (`Error: ...`, exit status 1) and anything else stays a traceback worth reporting."""

from __future__ import annotations

from tfserving_loadtest.errors import LoadTestError as ToolkitError


class ProjectError(Exception):
    """An expected failure; the message names the thing and the fix."""


class DataError(ProjectError):
    """A schema or data file cannot be used as it is."""


class ExportError(ProjectError):
    """A model was not exported, published or verified; nothing under models/ changed."""


class LoadTestError(ProjectError, ToolkitError):
    """A load test cannot start (server, model, schema) or one of its checks failed; the load-test
    toolkit's own error (ToolkitError) means the same and the command line treats it alike."""


class DashboardError(ProjectError):
    """The dashboards cannot be built or pushed."""

