"""The experiments that start, swap or scale this project's own servers: batching (off vs on, each
on an embedded server of its own), swap (versions published under load), scale (throughput at 1 and
3 compose replicas), with `common` (their servers, and Locust run beside a driver). Each writes
reports/<timestamp>-<scenario>/ with the toolkit's report; steady, capacity and tune-batching are
the toolkit's own (tfserving_loadtest.scenarios); canary and rolling replacement are in rollouts/."""
