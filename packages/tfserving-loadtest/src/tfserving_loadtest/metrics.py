"""Client-side metrics in Prometheus format, with the names the Grafana dashboards query."""

from __future__ import annotations

from typing import Any

import gevent
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry()
# route: the version label a request addressed ("stable", "canary"), or "latest" for requests that
# name no version (TF Serving answers them with its newest version). The canary compares routes.
REQUESTS = Counter("loadtest_requests", "Requests sent by the load generator",
                   ["protocol", "outcome", "route"], registry=REGISTRY)  # exposed as loadtest_requests_total
LATENCY = Histogram("loadtest_request_latency_seconds", "Client-side request latency", ["protocol", "route"],
                    # Fine enough for a p99 compared between versions (the canary): a quantile is
                    # interpolated inside its bucket, so wide buckets would blur a 30 % slowdown.
                    buckets=(0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04,
                             0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10),
                    registry=REGISTRY)
USERS = Gauge("loadtest_users", "Simulated users running", registry=REGISTRY)


def start(port: int, addr: str = "127.0.0.1") -> None:
    start_http_server(port, addr=addr, registry=REGISTRY)


LATEST = "latest"


def start_routes(protocol: str, routes: list[str]) -> None:
    """Create the routes' series at zero before any request: Prometheus's increase() only counts
    from a series' first scrape, so a series born with its first request would lose it."""
    for route in routes:
        for outcome in ("success", "failure"):
            REQUESTS.labels(protocol=protocol, outcome=outcome, route=route)
        LATENCY.labels(protocol=protocol, route=route)


def observe(protocol: str, ok: bool, seconds: float, route: str = LATEST) -> None:
    REQUESTS.labels(protocol=protocol, outcome="success" if ok else "failure", route=route).inc()
    if ok:  # like TF Serving's request_latency: failures would skew the latency panels
        LATENCY.labels(protocol=protocol, route=route).observe(seconds)


def follow_users(runner: Any, interval: float = 1.0) -> None:
    while True:
        USERS.set(runner.user_count)
        gevent.sleep(interval)
