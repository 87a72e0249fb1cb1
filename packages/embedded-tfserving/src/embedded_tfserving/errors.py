"""The errors this package raises on purpose, under one base, and TF Serving's canonical status
codes with how each maps to HTTP and gRPC."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # grpc is imported where it is used: `embedded-tfserving --help` needs no runtime
    import grpc

# Canonical code -> HTTP status, as TF Serving's REST handler maps them.
HTTP_STATUS: dict[str, int] = {
    "OK": 200, "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404, "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400, "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501,
    "INTERNAL": 500, "UNAVAILABLE": 503, "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}


class ModelServerError(Exception):
    """Base of every error raised on purpose; the message names the thing and, where there is one, the fix."""


class FlagError(ModelServerError):
    """A flag is unknown, unsupported, malformed or inconsistent with another."""


class ConfigError(ModelServerError):
    """A config file is missing, malformed or inconsistent; the message names file and line."""


class StartupError(ModelServerError):
    """The server could not start serving: no initial model loaded, a port is taken, or (for a
    child process started with `process.ChildProcess`) it exited or was not ready in time."""


class ServingError(ModelServerError):
    """A request or load failure carrying a canonical code name (e.g. "INVALID_ARGUMENT")."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.code, 500)

    @property
    def grpc_code(self) -> grpc.StatusCode:
        import grpc

        return getattr(grpc.StatusCode, self.code, grpc.StatusCode.UNKNOWN)

    @property
    def error_code_number(self) -> int:
        number: int = self.grpc_code.value[0]
        return number

    def __str__(self) -> str:  # absl Status::ToString(), used when TF Serving nests errors
        return f"{self.code}: {self.message}"


def invalid(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def from_exception(error: BaseException) -> ServingError:
    """A TensorFlow (or argument-binding) failure while running a signature, as a ServingError."""
    if isinstance(error, ServingError):
        return error
    code_number = getattr(error, "error_code", None)
    if code_number is not None:  # tf.errors.OpError
        import grpc

        code = next((c.name for c in grpc.StatusCode if c.value[0] == code_number), "UNKNOWN")
        return ServingError(code, runtime_message(getattr(error, "message", str(error))))
    if isinstance(error, (TypeError, ValueError)):
        return ServingError("INVALID_ARGUMENT", str(error))
    return ServingError("INTERNAL", f"{type(error).__name__}: {error}")


# What TensorFlow's Python runtime adds to a kernel's message, which TF Serving's C++ runtime does not:
# a "Graph execution error:" heading, the Python stack where the failing node was defined (the
# server's own files) and the traced function's name. None of it may reach a client.
_PYTHON_ADDITIONS = (
    re.compile(r"^Graph execution error:\n\n"),
    re.compile(r"Detected at node \S+ defined at \(most recent call last\):\n(?:[ \t][^\n]*\n|\n)*"),
    re.compile(r" \[Op:[^\]]*\]$"),
)


def runtime_message(message: str) -> str:
    """A TensorFlow runtime error's message as TF Serving's C++ runtime words it (the kernel's text)."""
    for pattern in _PYTHON_ADDITIONS:
        message = pattern.sub("", message)
    return message.strip()
