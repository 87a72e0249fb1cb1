"""The one client of Prometheus's HTTP API here: instant and range queries, the scrape targets, the
running configuration's scrape interval; it says clearly when nobody answers and which query
Prometheus rejected."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import requests
import yaml

from .errors import DashboardError

if TYPE_CHECKING:
    from .dashboards.evaluate import Window


class Prometheus:
    """The HTTP API of one Prometheus: fails clearly when it does not answer, says the error of
    a query it rejects."""

    def __init__(self, url: str, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            reply = requests.get(f"{self.url}{path}", params=params, timeout=self.timeout)
        except requests.RequestException as error:
            raise DashboardError(f"no Prometheus answers at {self.url} ({type(error).__name__}): start one, "
                                 "or point --prometheus at yours") from None
        try:
            body = reply.json()
        except ValueError:
            raise DashboardError(f"{self.url}{path} answered HTTP {reply.status_code} without JSON: "
                                 "is that a Prometheus?") from None
        if body.get("status") != "success":
            raise QueryError(str(body.get("error") or f"HTTP {reply.status_code}"))
        return body["data"]

    def scrape_interval(self) -> float:
        """The global scrape interval from the running configuration (Prometheus's default, 60 s,
        when it sets none)."""
        config = yaml.safe_load(self._get("/api/v1/status/config", {})["yaml"]) or {}
        return parse_duration(str((config.get("global") or {}).get("scrape_interval", "1m")))

    def query_range(self, expr: str, window: Window) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query_range",
                         {"query": expr, "start": window.start, "end": window.end, "step": window.step})
        return list(data["result"])

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self._get("/api/v1/query", {"query": expr, "time": at})
        return list(data["result"]) if data.get("resultType") == "vector" else []

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets (job, scrape URL and interval in each one's fields)."""
        return list(self._get("/api/v1/targets", {})["activeTargets"])


class QueryError(Exception):
    """Prometheus rejected a query (its own message)."""


def parse_duration(text: str) -> float:
    """A Prometheus duration (15s, 1m, 1m30s, 500ms) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise DashboardError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * units[u] for n, u in parts)
