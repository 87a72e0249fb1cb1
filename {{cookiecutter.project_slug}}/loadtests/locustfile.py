"""Users and tasks for load-testing the served model; pick one with its class name:

    locust -f loadtests/locustfile.py --headless -u 16 -t 30s --host http://127.0.0.1:8501 RestUser
    locust -f loadtests/locustfile.py --headless -u 16 -t 30s --host http://127.0.0.1:8501 GrpcUser

`python -m {{ cookiecutter.package_name }} loadtest ...` runs it for you and writes a report. The package must be
importable: `make setup` installs it; otherwise run from the project root with PYTHONPATH=. .
Options (--rows, --shape, --metrics-port, ...): `locust -f loadtests/locustfile.py --help`.
"""

import random
import ssl

from locust import FastHttpUser, LoadTestShape, User, constant, task

from {{ cookiecutter.package_name }}.contract import Access
from {{ cookiecutter.package_name }}.loadtest import hooks  # importing it installs the options, request pools and metrics exporter
from {{ cookiecutter.package_name }}.loadtest.grpc_client import PredictClient
from {{ cookiecutter.package_name }}.loadtest.shapes import plan, spec_from_options

# TLS and API key from SERVING_CA_FILE / SERVING_API_KEY (unset: plain HTTP, no key); pass an https:// --host.
ACCESS = Access.from_environment()
JSON = {"Content-Type": "application/json", **ACCESS.headers()}


class RestUser(FastHttpUser):
    """Posts row-format JSON to /v1/models/<name>:predict, back to back (closed loop)."""

    protocol = "rest"
    wait_time = constant(0)
    if ACCESS.ca_file:  # verify the server against our CA (Locust's default skips verification)
        insecure = False
        ssl_context_factory = staticmethod(lambda: ssl.create_default_context(cafile=ACCESS.ca_file))

    def on_start(self) -> None:
        self.bodies = hooks.pool("rest")
        self.path = f"/v1/models/{self.environment.parsed_options.model_name}:predict"

    @task
    def predict(self) -> None:
        self.client.post(self.path, data=random.choice(self.bodies), headers=JSON, name="predict")


class GrpcUser(User):
    """Calls PredictionService/Predict over gRPC, back to back; records the version that served."""

    protocol = "grpc"
    wait_time = constant(0)

    def on_start(self) -> None:
        self.requests = hooks.pool("grpc")
        self.client = PredictClient(hooks.grpc_target(self.environment.parsed_options), self.environment.events)

    @task
    def predict(self) -> None:
        self.client.predict(random.choice(self.requests), name="Predict")


class LoadShape(LoadTestShape):
    """steady, step or spike (--shape); reads -u, -r and -t, which Locust ignores with a shape."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None  # Locust sets it before the first tick
        return plan(spec_from_options(self.runner.environment.parsed_options), self.get_run_time())
