"""The canary's user (`make canary` runs it), kept out of locustfile.py: a run that names no user
class runs every class of its file, and canary requests only make sense while `make canary` has the
labels `stable` and `canary` in place.

    locust -f loadtests/canary.py --headless -u 16 -t 60s --arrival-rate 100 --canary-share 0.2 \\
        --host http://127.0.0.1:8501 GrpcCanaryUser
"""

import random

import locustfile  # noqa: F401 (the project's defaults: model, ports, requests, access)
from locust import task

from tfserving_loadtest import hooks, open_loop
from tfserving_loadtest.users import GrpcBase  # the gRPC users' setup; abstract, so Locust runs no user of it here

from {{ cookiecutter.package_name }}.contract import CANARY, STABLE


class GrpcCanaryUser(GrpcBase):
    """Open loop over gRPC, each request addressed to a version label: --canary-share of them to
    `canary`, the rest to `stable`. The client routes, as TF Serving's own clients do: the server has
    no traffic weights, a label is how a request picks a version (`make canary` runs this user)."""

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
