"""Locust users for any model TF Serving serves: REST and gRPC, closed loop (back to back) and
open loop (at the due times of --arrival-rate), and the load shapes (--shape). A locustfile imports
the ones it runs; the requests come from --requests (sources.py) through the pools of hooks.py.
"""

from __future__ import annotations

import random
import ssl
from dataclasses import replace
from typing import Any

from locust import FastHttpUser, LoadTestShape, User, constant, task

from . import access, hooks, open_loop  # importing hooks installs the options, pools, exporter
from .canary_policy import CANARY, STABLE
from .grpc_client import PredictClient
from .shapes import plan, spec_from_options


class RestBase(FastHttpUser):
    """What both REST users share: the request pool, the path, TLS and the API key."""

    abstract = True  # not a user class of its own
    protocol = "rest"
    wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        client_access = access.current()  # read per user: a locustfile may set it after importing this module
        if client_access.ca_file:  # verify the server against that CA (Locust's default skips verification)
            self.insecure = False
            self.ssl_context_factory = lambda: ssl.create_default_context(cafile=client_access.ca_file)
        self.json_headers = {"Content-Type": "application/json", **client_access.headers()}
        super().__init__(environment)

    def on_start(self) -> None:
        self.bodies = hooks.pool("rest")
        self.path = f"/v1/models/{self.environment.parsed_options.model_name}:predict"


class GrpcBase(User):
    """What both gRPC users share: the request pool and a client that records the version that served."""

    abstract = True
    protocol = "grpc"
    wait_time = constant(0)

    def on_start(self) -> None:
        self.requests = hooks.pool("grpc")
        self.client = PredictClient(hooks.grpc_target(self.environment.parsed_options), self.environment.events)


class RestUser(RestBase):
    """Posts predict bodies to /v1/models/<name>:predict, back to back (closed loop)."""

    @task
    def predict(self) -> None:
        self.client.post(self.path, data=random.choice(self.bodies), headers=self.json_headers, name="predict")


class GrpcUser(GrpcBase):
    """Calls PredictionService/Predict over gRPC, back to back (closed loop)."""

    @task
    def predict(self) -> None:
        self.client.predict(random.choice(self.requests), name="Predict")


class RestRateUser(RestBase):
    """Open loop: posts at the due times of --arrival-rate (this user's share of it); the latency
    counts from the due time, so time spent waiting for a free user is not hidden."""

    @task
    def predict(self) -> None:
        due = open_loop.next_due()
        with self.client.post(self.path, data=random.choice(self.bodies), headers=self.json_headers, name="predict",
                              catch_response=True) as response:
            response.request_meta["response_time"] = open_loop.since(due)  # Locust reports it on leaving the block


class GrpcRateUser(GrpcBase):
    """Open loop over gRPC, like RestRateUser."""

    @task
    def predict(self) -> None:
        due = open_loop.next_due()
        self.client.predict(random.choice(self.requests), name="Predict", started=due)


class LoadShape(LoadTestShape):
    """steady, step or spike (--shape); reads -u, -r and -t, which Locust ignores with a shape.
    With --arrival-rate the users stay at -u and the shape applies to the rate (open_loop)."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None  # Locust sets it before the first tick
        options = self.runner.environment.parsed_options
        spec = spec_from_options(options)
        if open_loop.enabled(options):
            spec = replace(spec, kind="steady")
        return plan(spec, self.get_run_time())


class GrpcCanaryUser(GrpcBase):
    """Open loop over gRPC, each request addressed to a version label: --canary-share of them to
    `canary`, the rest to `stable`. The client routes, as TF Serving's own clients do: the server has
    no traffic weights, a label is how a request picks a version (the canary scenario runs this
    user, from a locustfile of its own: see canary_locustfile.py)."""

    routes = (STABLE, CANARY)

    def on_start(self) -> None:
        super().on_start()
        self.pools = {label: hooks.labelled_pool(label) for label in self.routes}
        self.share = self.environment.parsed_options.canary_share

    @task
    def predict(self) -> None:
        due = open_loop.next_due()
        label = CANARY if random.random() < self.share else STABLE
        self.client.predict(random.choice(self.pools[label]), name=f"Predict {label}", started=due, route=label)
