"""Closed-loop clients on asyncio: each client sends its next request when its last one returns.

The one load generator outside Locust: the benchmark measures with it, the soak runs on it, and
the overload and fault tests drive the server with it. Every request ends as exactly one outcome:
"ok", an explicit server error ("rest_503", "grpc_UNAVAILABLE", ...) or a transport error
("rest_ServerDisconnectedError", ...): nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .access import Access
from .stats import percentile


@dataclass
class Interval:
    """One reporting interval: outcomes counted by kind, latencies (seconds) of the OK ones."""

    started: float
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def summary(self, rss_mb: float | None) -> dict[str, Any]:
        p99 = percentile(self.latencies, 0.99)
        return {"t": round(self.started, 1), "requests": sum(self.outcomes.values()), "ok": self.outcomes["ok"],
                "errors": {k: v for k, v in self.outcomes.items() if k != "ok"},
                "p99_ms": round(p99 * 1e3, 2) if p99 is not None else None, "server_rss_mb": rss_mb}


class Recorder:
    """Outcomes of a whole run (`total`) and of the current interval (`roll` starts the next)."""

    def __init__(self) -> None:
        self.origin = time.perf_counter()  # interval times count from here (the soak resets it)
        self.total: Counter[str] = Counter()
        self.current = Interval(0.0)

    def record(self, kind: str, latency: float | None = None) -> None:
        self.total[kind] += 1
        self.current.outcomes[kind] += 1
        if kind == "ok" and latency is not None:
            self.current.latencies.append(latency)

    def roll(self) -> Interval:
        done, self.current = self.current, Interval(time.perf_counter() - self.origin)
        return done


Send = Callable[[Any], Awaitable[str]]


class Load:
    """`rest_clients` clients posting `rest_bodies` to :predict and `grpc_clients` clients sending
    `grpc_requests` to PredictionService/Predict, round-robin through their pools. `access`: TLS
    and API key for a secured server (default: none)."""

    def __init__(self, rest_url: str, grpc_target: str, model: str, rest_bodies: list[bytes], grpc_requests: list[Any],
                 recorder: Recorder, rest_clients: int = 4, grpc_clients: int = 4, timeout: float = 30.0,
                 access: Access | None = None) -> None:
        self.rest_url, self.grpc_target, self.model = rest_url, grpc_target, model
        self.rest_bodies, self.grpc_requests = rest_bodies, grpc_requests
        self.recorder, self.rest_clients, self.grpc_clients, self.timeout = recorder, rest_clients, grpc_clients, timeout
        self.access = access or Access()
        self.stop = asyncio.Event()

    async def run(self, *, requests_per_client: int | None = None, seconds: float | None = None,
                  warmup: float = 0.0) -> float:
        """Until `stop` is set, each client has sent `requests_per_client` requests, or `seconds`
        have passed. With `warmup`, first that many seconds whose outcomes are not recorded (the
        connections open then). Returns the seconds measured."""
        import aiohttp
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        # True: aiohttp's default verification (only https URLs use it).
        ssl_context: ssl.SSLContext | bool = (ssl.create_default_context(cafile=self.access.ca_file)
                                              if self.access.ca_file else True)
        headers = {"Content-Type": "application/json", **self.access.headers()}
        metadata = self.access.grpc_metadata()
        channel = self.access.grpc_aio_channel(self.grpc_target) if self.grpc_clients else None
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel) if channel else None
        url = f"{self.rest_url}/v1/models/{self.model}:predict"

        async def rest_send(session: aiohttp.ClientSession, body: bytes) -> str:
            try:
                async with session.post(url, data=body, headers=headers, ssl=ssl_context) as reply:
                    payload = await reply.read()
                    # A row-format request is answered with "predictions", a columnar one with "outputs".
                    answered = b'"predictions"' in payload or b'"outputs"' in payload
                    return "ok" if reply.status == 200 and answered else f"rest_{reply.status}"
            except (TimeoutError, aiohttp.ClientError) as error:
                return f"rest_{type(error).__name__}"

        async def grpc_send(request: Any) -> str:
            import grpc

            assert stub is not None
            try:
                await stub.Predict(request, timeout=self.timeout, metadata=metadata)
                return "ok"
            except grpc.aio.AioRpcError as error:
                return f"grpc_{error.code().name}"

        timeout = aiohttp.ClientTimeout(total=self.timeout)
        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
                clients: list[tuple[Send, list[Any]]] = [
                    *[(lambda body: rest_send(session, body), self.rest_bodies)] * self.rest_clients,
                    *[(grpc_send, self.grpc_requests)] * self.grpc_clients]
                if warmup:
                    await self._drive(clients, Recorder(), time.perf_counter() + warmup, None)
                started = time.perf_counter()
                deadline = started + seconds if seconds is not None else None
                await self._drive(clients, self.recorder, deadline, requests_per_client)
                return time.perf_counter() - started
        finally:
            if channel is not None:
                await channel.close()

    async def _drive(self, clients: list[tuple[Send, list[Any]]], recorder: Recorder, deadline: float | None,
                     requests_per_client: int | None) -> None:
        def more(sent: int) -> bool:
            return (not self.stop.is_set() and (requests_per_client is None or sent < requests_per_client)
                    and (deadline is None or time.perf_counter() < deadline))

        async def client(send: Send, pool: list[Any], offset: int) -> None:
            sent = 0
            while more(sent):
                payload = pool[(offset + sent) % len(pool)]
                sent += 1
                started = time.perf_counter()
                kind = await send(payload)
                recorder.record(kind, time.perf_counter() - started)

        await asyncio.gather(*(client(send, pool, index) for index, (send, pool) in enumerate(clients)))
