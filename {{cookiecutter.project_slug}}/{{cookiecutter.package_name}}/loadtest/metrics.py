"""Client-side metrics in Prometheus format, with the names the Grafana dashboards query."""

from __future__ import annotations

from typing import Any

import gevent
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry()
REQUESTS = Counter("loadtest_requests", "Requests sent by the load generator",
                   ["protocol", "outcome"], registry=REGISTRY)  # exposed as loadtest_requests_total
LATENCY = Histogram("loadtest_request_latency_seconds", "Client-side request latency", ["protocol"],
                    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
                    registry=REGISTRY)
USERS = Gauge("loadtest_users", "Simulated users running", registry=REGISTRY)


def start(port: int, addr: str = "127.0.0.1") -> None:
    start_http_server(port, addr=addr, registry=REGISTRY)


def observe(protocol: str, ok: bool, seconds: float) -> None:
    REQUESTS.labels(protocol=protocol, outcome="success" if ok else "failure").inc()
    if ok:  # like TF Serving's request_latency: failures would skew the latency panels
        LATENCY.labels(protocol=protocol).observe(seconds)


def follow_users(runner: Any, interval: float = 1.0) -> None:
    while True:
        USERS.set(runner.user_count)
        gevent.sleep(interval)
