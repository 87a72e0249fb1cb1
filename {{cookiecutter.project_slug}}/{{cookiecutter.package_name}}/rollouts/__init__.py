"""Deployment operations on the running stack, each judged under load: `canary` (a version loaded
beside the stable one and labelled, a share of traffic sent to it, promoted or rolled back on the
figures `canary_policy` reads from Prometheus and decides on) and `rolling` (compose replicas
replaced one by one behind the balancer, no request may fail)."""
