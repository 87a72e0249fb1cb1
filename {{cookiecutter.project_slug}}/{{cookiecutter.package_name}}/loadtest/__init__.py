"""Locust load tests against TF Serving (or the embedded server).

`payloads` builds request pools from the schema, `grpc_client` is the gevent-friendly gRPC
plumbing, `shapes` the load shapes, `hooks` the Locust options, metrics exporter and request log
the locustfile installs; `locust_run` starts headless Locust, `scenarios/` drive whole
experiments and `report` writes what they measured.
"""
