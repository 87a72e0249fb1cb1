"""Each protocol's floor for the benchmark: the embedded server's own runtimes (grpc.aio and aiohttp
on one asyncio loop) answering TF Serving's predict routes with a canned reply and no model.

What the server spends per request above this floor is its own work (parsing, checks, batching,
TensorFlow); the floor is what the runtime costs whatever the server does. The replies are the
real server's own to the benchmark's first request (REST body, serialized PredictResponse), read
from files: `python -m tfserving_loadtest.bench.floor_server REST_REPLY GRPC_REPLY GRPC_PORT REST_PORT`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any


async def serve(rest_reply: bytes, grpc_reply: bytes, grpc_port: int, rest_port: int) -> None:
    import grpc
    from aiohttp import web
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    reply = predict_pb2.PredictResponse.FromString(grpc_reply)

    class Floor(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request: Any, context: Any) -> Any:
            return reply

    server = grpc.aio.server()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Floor(), server)
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    await server.start()

    async def predict(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=rest_reply, content_type="application/json")

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ready")

    app = web.Application()
    app.router.add_post("/v1/models/{name}:predict", predict)
    app.router.add_get("/ready", ready)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", rest_port).start()
    await asyncio.Event().wait()  # until the benchmark stops the process


if __name__ == "__main__":
    asyncio.run(serve(Path(sys.argv[1]).read_bytes(), Path(sys.argv[2]).read_bytes(), int(sys.argv[3]),
                      int(sys.argv[4])))
