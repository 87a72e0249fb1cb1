"""The experiments on this project's own servers: the scale-out comparison (throughput at 1 and 3
compose replicas), and `common` (a copy of the newest version, the embedded server with the compose
service's flags) on which the toolkit's batching, swap and tune-batching run. Steady, capacity,
batching, tune-batching and swap are the toolkit's (tfserving_loadtest.scenarios); canary and the
rolling replacement are in rollouts/."""
