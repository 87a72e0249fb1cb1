"""`common`: the model to serve on a copy and the embedded server with the compose service's flags,
on which the toolkit's batching, swap and tune-batching run. The scenarios themselves are the
toolkit's (tfserving_loadtest.scenarios); the scale-out comparison and the rolling replacement of
compose replicas are the stack's (tfserving_stack.scale, tfserving_stack.rolling)."""
