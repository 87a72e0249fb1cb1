"""Users and tasks for load-testing the served model; pick one with its class name:

    locust -f loadtests/locustfile.py --headless -u 16 -t 30s --host http://127.0.0.1:8501 RestUser
    locust -f loadtests/locustfile.py --headless -u 16 -t 30s --host http://127.0.0.1:8501 GrpcUser

RestUser and GrpcUser send back to back (closed loop). RestRateUser and GrpcRateUser send at a
fixed arrival rate whatever the replies (open loop; -u is then how many requests may be in flight):

    locust -f loadtests/locustfile.py --headless -u 64 -t 30s --arrival-rate 200 --host http://127.0.0.1:8501 RestRateUser

The canary's user lives in loadtests/canary.py, out of this file: a run that names no user class
runs every class here, and canary requests only make sense while a canary is set up.

`python -m {{ cookiecutter.package_name }} loadtest ...` runs it for you and writes a report. The package must be
importable: `make setup` installs it; otherwise run from the project root with PYTHONPATH=. .
Options (--rows, --shape, --metrics-port, ...): `locust -f loadtests/locustfile.py --help`.
"""

import random
import ssl
from dataclasses import replace

from locust import FastHttpUser, LoadTestShape, User, constant, task

from {{ cookiecutter.package_name }}.contract import Access
from {{ cookiecutter.package_name }}.loadtest import hooks, open_loop  # importing them installs the options, pools, exporter
from {{ cookiecutter.package_name }}.loadtest.grpc_client import PredictClient
from {{ cookiecutter.package_name }}.loadtest.shapes import plan, spec_from_options

# TLS and API key from SERVING_CA_FILE / SERVING_API_KEY (unset: plain HTTP, no key); pass an https:// --host.
ACCESS = Access.from_environment()
JSON = {"Content-Type": "application/json", **ACCESS.headers()}


class _Rest(FastHttpUser):
    """What both REST users share: the request pool, the path and TLS."""

    abstract = True  # not a user class of its own
    protocol = "rest"
    wait_time = constant(0)
    if ACCESS.ca_file:  # verify the server against our CA (Locust's default skips verification)
        insecure = False
        ssl_context_factory = staticmethod(lambda: ssl.create_default_context(cafile=ACCESS.ca_file))

    def on_start(self) -> None:
        self.bodies = hooks.pool("rest")
        self.path = f"/v1/models/{self.environment.parsed_options.model_name}:predict"


class _Grpc(User):
    """What both gRPC users share: the request pool and a client that records the version that served."""

    abstract = True
    protocol = "grpc"
    wait_time = constant(0)

    def on_start(self) -> None:
        self.requests = hooks.pool("grpc")
        self.client = PredictClient(hooks.grpc_target(self.environment.parsed_options), self.environment.events)


class RestUser(_Rest):
    """Posts row-format JSON to /v1/models/<name>:predict, back to back (closed loop)."""

    @task
    def predict(self) -> None:
        self.client.post(self.path, data=random.choice(self.bodies), headers=JSON, name="predict")


class GrpcUser(_Grpc):
    """Calls PredictionService/Predict over gRPC, back to back (closed loop)."""

    @task
    def predict(self) -> None:
        self.client.predict(random.choice(self.requests), name="Predict")


class RestRateUser(_Rest):
    """Open loop: posts at the due times of --arrival-rate (this user's share of it); the latency
    counts from the due time, so time spent waiting for a free user is not hidden."""

    @task
    def predict(self) -> None:
        due = open_loop.next_due()
        with self.client.post(self.path, data=random.choice(self.bodies), headers=JSON, name="predict",
                              catch_response=True) as response:
            response.request_meta["response_time"] = open_loop.since(due)  # Locust reports it on leaving the block


class GrpcRateUser(_Grpc):
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
