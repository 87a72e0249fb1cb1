"""The canary's user (`make canary` runs it), kept out of locustfile.py: a run that names no user
class runs every class of its file, and canary requests only make sense while `make canary` has the
labels `stable` and `canary` in place.

    locust -f loadtests/canary.py --headless -u 16 -t 60s --arrival-rate 100 --canary-share 0.2 \\
        --host http://127.0.0.1:8501 GrpcCanaryUser
"""

import locustfile  # noqa: F401 (the project's defaults: model, ports, requests, access)

from tfserving_loadtest.users import GrpcCanaryUser

__all__ = ["GrpcCanaryUser"]
