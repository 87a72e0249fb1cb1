"""Limits that keep hostile or broken clients from taking resources without bound.

- REST bodies above --max_request_bytes: 413 {"error": ...}, refused from Content-Length before reading.
- A body that trickles in slower than --rest_body_timeout_seconds: 408, and the connection closes.
  (Incomplete request headers are bounded by aiohttp's keep-alive timer, set in server.py.)
- gRPC tensors whose declared shape would allocate more elements than the request could carry
  (TensorProto repeats a single value over its shape: [1e6, 1e6] in a few bytes): INVALID_ARGUMENT.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from aiohttp import web

from .errors import invalid

# Elements a tensor may declare per byte of --max_request_bytes (a float32 element is 4 bytes; a
# repeated scalar costs nothing on the wire, so bound the allocation rather than the wire size).
ELEMENTS_PER_BYTE = 1


class Rejected(Exception):
    """A request refused before parsing; `status` is the HTTP status of the {"error": ...} reply."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def too_large(limit: int) -> Rejected:
    return Rejected(413, f"Request body larger than {limit} bytes (--max_request_bytes)")


async def read_body(request: web.Request, limit: int, timeout: float | None) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise too_large(limit)
    try:
        if request.content.is_eof():  # the whole body has arrived (the usual small request): nothing to wait for
            return await request.read()
        async with asyncio.timeout(timeout if timeout and timeout > 0 else None):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:  # chunked bodies: aiohttp counts while reading
        raise too_large(limit) from None
    except TimeoutError:
        raise Rejected(408, f"Request body not received within {timeout:g}s (--rest_body_timeout_seconds)") from None


def check_tensor_protos(tensors: Any, max_elements: int) -> None:
    """Declared shapes must be non-negative and within `max_elements` before any allocation."""
    for name, proto in tensors.items():
        dims = [d.size for d in proto.tensor_shape.dim]
        if any(d < 0 for d in dims):
            raise invalid(f"Input tensor {name} has a negative dimension in shape {dims}")
        count = math.prod(dims)
        if count > max_elements:
            raise invalid(f"Input tensor {name} declares {count} elements (shape {dims}); at most "
                          f"{max_elements} are accepted (--max_request_bytes)")
