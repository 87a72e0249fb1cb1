"""Each protocol's floor for the benchmark: the embedded server's own runtimes (grpc.aio and aiohttp
on one asyncio loop) answering TF Serving's predict routes with a canned reply and no model.

What the server spends per request above this floor is its own work (parsing, checks, batching,
TensorFlow); the floor is what the runtime costs whatever the server does. The reply has the
shape of a one-row CTR prediction. `python -m <package>.loadtest.floor_server GRPC_PORT REST_PORT`.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ..contract import OUTPUT, SIGNATURE

REST_REPLY = b'{"predictions": [0.5]}'


def grpc_reply() -> Any:
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import predict_pb2

    reply = predict_pb2.PredictResponse()
    reply.model_spec.name = "floor"
    reply.model_spec.version.value = 1
    reply.model_spec.signature_name = SIGNATURE
    output = reply.outputs[OUTPUT]
    output.dtype = types_pb2.DT_FLOAT
    output.tensor_shape.dim.add(size=1)
    output.float_val.append(0.5)
    return reply


async def serve(grpc_port: int, rest_port: int) -> None:
    import grpc
    from aiohttp import web
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    reply = grpc_reply()

    class Floor(prediction_service_pb2_grpc.PredictionServiceServicer):
        async def Predict(self, request: Any, context: Any) -> Any:
            return reply

    server = grpc.aio.server()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Floor(), server)
    server.add_insecure_port(f"127.0.0.1:{grpc_port}")
    await server.start()

    async def predict(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=REST_REPLY, content_type="application/json")

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
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
