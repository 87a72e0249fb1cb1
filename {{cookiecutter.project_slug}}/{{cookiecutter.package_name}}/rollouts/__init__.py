"""Deployment operations on the running stack, judged under load: `rolling` (compose replicas
replaced one by one behind the balancer, no request may fail). The canary is the toolkit's
(tfserving_loadtest.scenarios.canary), run by `make canary` on this project's stack."""
