"""This project's side of the load tests; the load-test toolkit (tfserving-loadtest) does the rest.

- `payloads`: the payload hook (request pools from the schema), the locustfile's default source;
- `preflight`: the toolkit's checks plus this project's signature check;
- `scenarios/`: the scenarios that drive this project's own servers (batching, swap, rollout,
  scale, canary); steady, capacity and tune-batching are the toolkit's;
- `bench` and `soak` (with `naive_app`, `floor_server`, `load_paths`, `profile`), and `canary`.

Importing this package configures the toolkit for this project: its runs use loadtests/locustfile.py
from the project's root, its clients read the CA and API key as the project does (.env too), and
every report it writes here ends with the dashboards over the run.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

from tfserving_loadtest import access, locust_run, report

from ..contract import client_access
from ..settings import LOCUSTFILE, PROJECT_ROOT

# This project's requests, for the toolkit (sources.parse): its payload hook.
REQUESTS = "hook:{{ cookiecutter.package_name }}.loadtest.payloads"


def _dashboards(run_dir: Path) -> list[str]:
    """The dashboards over this run, drawn from the project's Prometheus (or why they are not)."""
    from .. import settings
    from ..dashboards.preview import report_previews

    images, note = report_previews(run_dir, settings.prometheus_url(), settings.model_name(), time.time())
    return [f"<h2>Dashboards (preview)</h2><p>{html.escape(note)}</p>", *(report.embedded(image) for image in images)]


locust_run.use_locustfile(LOCUSTFILE, PROJECT_ROOT)
access.use(client_access)
report.add_appendix(_dashboards)
