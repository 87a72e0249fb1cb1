"""Optional API keys for REST and gRPC (`--api_keys_file`, one key per line; `#` starts a comment).

A client sends one key: REST header `Authorization: Bearer <key>` or `X-API-Key: <key>`, gRPC
metadata `authorization: Bearer <key>` or `x-api-key: <key>`. Keys are compared as SHA-256 digests
with hmac.compare_digest against every configured key, so timing reveals neither a key nor which
one matched. A missing or wrong key gets REST 401 {"error": ...} or gRPC UNAUTHENTICATED.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import grpc
import orjson
from aiohttp import web

from .errors import ConfigError

MESSAGE = "Missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def read_api_keys(path: Path) -> list[str]:
    """The keys of an --api_keys_file: one per line, `#` starts a comment (clients read it the same way)."""
    lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text().splitlines())
    return [line for line in lines if line]


class ApiKeys:
    def __init__(self, keys: Iterable[str]) -> None:
        self._digests = [_digest(k) for k in keys]
        if not self._digests:
            raise ConfigError("no API keys given")

    @classmethod
    def read(cls, path: Path) -> ApiKeys:
        keys = read_api_keys(path)
        if not keys:
            raise ConfigError(f"--api_keys_file={path} holds no keys (one per line)")
        return cls(keys)

    def allows(self, presented: str | None) -> bool:
        if not presented:
            return False
        digest = _digest(presented)
        matched = False
        for known in self._digests:  # no early exit: the time does not depend on which key matched
            matched |= hmac.compare_digest(known, digest)
        return matched


def presented_key(authorization: str | None, api_key: str | None) -> str | None:
    """The key a client sent: X-API-Key, else the token of `Authorization: Bearer <token>`."""
    if api_key:
        return api_key.strip()
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def rest_middleware(keys: ApiKeys, open_paths: Iterable[str] = ()) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Checks the key before the body is read; `open_paths` (e.g. the metrics page) need none."""
    exempt = frozenset(open_paths)

    @web.middleware
    async def require_key(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
        if request.path in exempt or keys.allows(presented_key(request.headers.get("Authorization"),
                                                               request.headers.get("X-API-Key"))):
            return await handler(request)
        return web.Response(body=orjson.dumps({"error": MESSAGE}), status=401, content_type="application/json",
                            headers={"WWW-Authenticate": 'Bearer realm="model-server"'})

    return require_key


async def _deny(request: Any, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, MESSAGE)


class GrpcApiKeys(grpc.aio.ServerInterceptor):
    """Refuses every RPC whose metadata carries no valid key (all our RPCs are unary-unary)."""

    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys
        self._denied: grpc.RpcMethodHandler = grpc.unary_unary_rpc_method_handler(_deny)

    async def intercept_service(self, continuation: Callable[[Any], Awaitable[Any]], details: Any) -> Any:
        metadata = {k.lower(): v for k, v in (details.invocation_metadata or ()) if isinstance(v, str)}
        if self.keys.allows(presented_key(metadata.get("authorization"), metadata.get("x-api-key"))):
            return await continuation(details)
        return self._denied
