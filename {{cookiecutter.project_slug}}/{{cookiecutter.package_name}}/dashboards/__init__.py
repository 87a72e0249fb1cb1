"""Grafana dashboards as code: `definitions.py` the dashboards (built from the load-test toolkit's
`tfserving_loadtest.dashboards.panels`, whose `preview` draws them without Grafana), `render.py`
turns them into the JSON files under dashboards/, `grafana.py` talks to a running Grafana (push,
annotations)."""
