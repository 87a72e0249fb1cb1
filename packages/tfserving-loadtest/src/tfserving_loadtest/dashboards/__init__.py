"""Grafana dashboards as code and their previews without Grafana: `panels.py` the building blocks
(a dashboard's panels, queries and annotations, and the Grafana JSON they make), `evaluate.py` every
query run on a Prometheus over a window as Grafana would, `preview.py` each dashboard drawn as a PNG
(matplotlib), e.g. over a load test's run for its report."""
