"""The experiments that start, swap or scale this project's own servers: batching (off vs on, each
on an embedded server of its own), swap (versions published under load), rollout and scale (the
compose replicas), canary (a version judged on a share of traffic). Each writes
reports/<timestamp>-<scenario>/ with the toolkit's report; steady, capacity and tune-batching are
the toolkit's own (tfserving_loadtest.scenarios)."""
