"""Load tests for any model TF Serving serves, with Locust as the engine.

- requests: `sources` (a JSON file, the model's warmup records, or a payload hook), pooled per
  process by `hooks`, which also installs the Locust options, the client-side exporter (`metrics`)
  and the per-request log;
- Locust's side: `users` (REST and gRPC, closed and open loop), `grpc_client`, `shapes`,
  `open_loop` (with the pure maths in `arrivals`); `locust_run` runs one headless Locust;
- the policies: `capacity_search` (the search at a latency objective), `batching_search` (the
  tuner's candidates); the commands that run them, `scenarios/` (steady, capacity, tune-batching),
  with `preflight` checks, `report`, `run_dirs`, `plots`, `thresholds` and `verdict`;
  `server_metrics` and `resources` read server-side figures, `prometheus` queries a Prometheus and
  `dashboards/` draws dashboards without Grafana;
- outside Locust: `closed_loop` (asyncio clients for benchmarks and soaks); `stats` holds the one
  percentile definition every report uses.
"""

__version__ = "0.2.1"
