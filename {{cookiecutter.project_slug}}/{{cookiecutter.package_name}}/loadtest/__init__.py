"""The library behind the load tests (`loadtests/locustfile.py` is the Locust entry point):

- Locust's side: `payloads` (request pools from the schema), `grpc_client` (gevent-friendly gRPC),
  `shapes` (steady, step, spike), `hooks` and `metrics` (options, client-side exporter, request
  log), `locust_run` (one headless Locust run as a child process);
- whole experiments: `scenarios/` (steady, batching, swap) with `preflight` checks, `report` and
  `plots` (reports/<timestamp>-<scenario>/), `server_metrics` and `resources` (server-side figures);
- outside Locust: `closed_loop` (asyncio clients), used by `bench` (with the `naive_app` baseline)
  and `soak`; `stats` holds the one percentile definition every report uses.
"""
