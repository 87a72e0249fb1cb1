"""The toolkit's one expected failure: the message names what is wrong and what to do."""

from __future__ import annotations


class LoadTestError(Exception):
    """A load test cannot start (server, model, requests, options) or one of its checks failed."""


class ServerUnreachable(LoadTestError):
    """Nobody answers at the server's address (a caller may name how its server is started)."""


class DashboardError(LoadTestError):
    """Dashboards cannot be evaluated or drawn (no Prometheus, a bad duration)."""


class CanaryError(LoadTestError):
    """A canary cannot start, or its rollout could not be applied (the candidate was rolled back)."""


class ConfigError(LoadTestError):
    """A model server config file cannot be read or used."""
