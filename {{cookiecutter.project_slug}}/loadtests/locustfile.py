"""Users and tasks for load-testing the served model; pick one with its class name:

    locust -f loadtests/locustfile.py --headless -u 16 -t 30s --host http://127.0.0.1:8501 RestUser
    locust -f loadtests/locustfile.py --headless -u 16 -t 30s --host http://127.0.0.1:8501 GrpcUser

RestUser and GrpcUser send back to back (closed loop). RestRateUser and GrpcRateUser send at a
fixed arrival rate whatever the replies (open loop; -u is then how many requests may be in flight):

    locust -f loadtests/locustfile.py --headless -u 64 -t 30s --arrival-rate 200 --host http://127.0.0.1:8501 RestRateUser

The users come from the load-test toolkit (tfserving-loadtest); this file sets what is the
project's: the model name, the ports, and the requests, built by {{ cookiecutter.package_name }}.loadtest.payloads
from the schema (any --requests source of the toolkit's replaces them). The canary's user lives in
loadtests/canary.py, out of this file: a run that names no user class runs every class here, and
canary requests only make sense while a canary is set up.

`python -m {{ cookiecutter.package_name }} loadtest ...` runs it for you and writes a report. The package must be
importable: `make setup` installs it; otherwise run from the project root with PYTHONPATH=. .
Options (--rows, --shape, --metrics-port, ...): `locust -f loadtests/locustfile.py --help`.
"""

from tfserving_loadtest import hooks
from tfserving_loadtest.users import GrpcRateUser, GrpcUser, LoadShape, RestRateUser, RestUser

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.loadtest import REQUESTS

__all__ = ["GrpcRateUser", "GrpcUser", "LoadShape", "RestRateUser", "RestUser"]

# Importing {{ cookiecutter.package_name }}.loadtest has the clients read the CA and API key as the project does
# (SERVING_CA_FILE, SERVING_API_KEY; unset: plain HTTP, no key); pass an https:// --host for TLS.
hooks.defaults(model_name=settings.model_name(), grpc_port=settings.grpc_port(), metrics_port=settings.metrics_port(),
               requests=REQUESTS)
