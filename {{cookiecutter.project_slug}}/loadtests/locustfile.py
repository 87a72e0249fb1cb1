"""Users and tasks for load-testing the served model; pick one with its class name:

    locust -f loadtests/locustfile.py --headless -u 16 -t 30s --host http://127.0.0.1:8501 RestUser
    locust -f loadtests/locustfile.py --headless -u 16 -t 30s --host http://127.0.0.1:8501 GrpcUser

`python -m {{ cookiecutter.package_name }} loadtest ...` runs it for you and writes a report.
Options (--rows, --shape, --metrics-port, ...): `locust -f loadtests/locustfile.py --help`.
"""

import random
import ssl
import sys
from pathlib import Path

# The project root, so the package imports without installing it (e.g. in the Locust container).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from locust import FastHttpUser, LoadTestShape, User, constant, task  # noqa: E402

from {{ cookiecutter.package_name }}.loadtest import hooks, settings  # noqa: E402  (options, pools, metrics)
from {{ cookiecutter.package_name }}.loadtest.grpc_client import PredictClient  # noqa: E402
from {{ cookiecutter.package_name }}.loadtest.shapes import plan, spec_from_options  # noqa: E402

# TLS and API key from SERVING_CA_FILE / SERVING_API_KEY (unset: plain HTTP, no key); pass an https:// --host.
JSON = {"Content-Type": "application/json", **settings.auth_headers()}


class RestUser(FastHttpUser):
    """Posts row-format JSON to /v1/models/<name>:predict, back to back (closed loop)."""

    protocol = "rest"
    wait_time = constant(0)
    if settings.ca_file():  # verify the server against our CA (Locust's default skips verification)
        insecure = False
        ssl_context_factory = staticmethod(lambda: ssl.create_default_context(cafile=settings.ca_file()))

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
        return plan(spec_from_options(self.runner.environment.parsed_options), self.get_run_time())
