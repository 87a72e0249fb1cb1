"""This project's side of the load tests; the load-test toolkit (tfserving-loadtest) does the rest.

- `payloads`: the payload hook (request pools from the schema), the locustfile's default source;
- `preflight`: the toolkit's checks plus this project's signature check;
- `scenarios/`: the embedded servers (with the compose service's flags, on a copy of the newest
  version) on which the toolkit's batching, swap and tune-batching run; steady, capacity, the soak
  and the canary are the toolkit's too, and the scale-out comparison and the rolling replacement
  the stack's (tfserving-stack);
- `naive_app`: the naive baseline server of the benchmark (the toolkit's bench, `make bench`).

Importing this package configures the toolkit for this project: its runs use loadtests/locustfile.py
from the project's root, its clients read the CA and API key as the project does (.env too), and
every report it writes here ends with the dashboards over the run. Code of this project that runs
Locust takes `locust_run` from here, so that it is the configured one.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from tfserving_loadtest import access, locust_run, report

from ..contract import client_access
from ..settings import LOCUSTFILE, PROJECT_ROOT

__all__ = ["REQUESTS", "locust_run"]

# This project's requests, for the toolkit (sources.parse): its payload hook.
REQUESTS = "hook:{{ cookiecutter.package_name }}.loadtest.payloads"


def _dashboards(run_dir: Path) -> list[str]:
    """The dashboards over this run, drawn from the project's Prometheus (or why they are not)."""
    from tfserving_loadtest.dashboards.preview import report_previews

    from .. import settings
    from ..dashboards.definitions import DASHBOARDS

    images, note = report_previews(run_dir, settings.prometheus_url(), settings.model_name(), time.time(), DASHBOARDS)
    note += " `make dashboards-preview` redraws them." if images else ""
    return [f"<h2>Dashboards (preview)</h2><p>{html.escape(note)}</p>", *(report.embedded(image) for image in images)]


locust_run.use_locustfile(LOCUSTFILE, PROJECT_ROOT)
access.use(client_access)
report.add_appendix(_dashboards)
