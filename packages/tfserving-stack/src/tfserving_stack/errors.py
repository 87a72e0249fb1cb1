"""The stack's one error: an expected failure whose message names the thing and the fix (ports
taken, no engine, no model, a bad setting); the command line prints it as one `Error: ...` line."""


class StackError(Exception):
    """`serve`, `stop`, `status`, the images, a rollout or the certificates cannot do what was asked."""
