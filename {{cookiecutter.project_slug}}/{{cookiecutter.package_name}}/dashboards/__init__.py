"""Grafana dashboards as code: `panels.py` defines the building blocks, `definitions.py` the
dashboards, `render.py` turns them into the JSON files under dashboards/, `grafana.py` talks to a
running Grafana (push, annotations)."""
