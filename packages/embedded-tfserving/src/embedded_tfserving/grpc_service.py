"""TF Serving's gRPC API: PredictionService and ModelService from tensorflow-serving-api, on grpc.aio."""

from __future__ import annotations

import time
from typing import Any

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_status_pb2,
    inference_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from . import inference, limits, tensor_protos
from .errors import ServingError, from_exception
from .manager import Manager
from .metrics import ServingMetrics
from .status import metadata_response, status_response


def _spec(request: Any, servable: bool = True) -> tuple[str, int | None, str | None]:
    """(name, version, label) of a request's ModelSpec, with TF Serving's INVALID_ARGUMENT when it has
    none or (for a request that needs a servable: ServableRequestFromModelSpec) no name."""
    if not request.HasField("model_spec"):
        raise ServingError("INVALID_ARGUMENT", "Missing ModelSpec")
    spec = request.model_spec
    if servable and not spec.name:
        raise ServingError("INVALID_ARGUMENT", "ModelSpec has no name specified.")
    choice = spec.WhichOneof("version_choice")
    return (spec.name, spec.version.value if choice == "version" else None,
            spec.version_label if choice == "version_label" else None)


class _Calls:
    """Status codes, request_count and request_latency for every RPC, as TF Serving records them."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self.metrics = metrics

    async def call(self, api: str, request: Any, context: grpc.aio.ServicerContext, body: Any) -> Any:
        started = time.perf_counter()
        name = request.model_spec.name
        try:
            reply = await body()
        except ServingError as error:
            self.metrics.count_request(name, error.code)
            await context.abort(error.grpc_code, error.message)
        except Exception as error:  # never let one request take the server down
            wrapped = from_exception(error)
            self.metrics.count_request(name, wrapped.code)
            await context.abort(wrapped.grpc_code, wrapped.message)
        self.metrics.count_request(name, "OK")
        self.metrics.observe_request(name, api, "GRPC", (time.perf_counter() - started) * 1e6)
        return reply


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager: Manager, metrics: ServingMetrics, max_tensor_elements: int = 1 << 24) -> None:
        self.manager = manager
        self.calls = _Calls(metrics)
        self.max_tensor_elements = max_tensor_elements

    async def Predict(self, request: predict_pb2.PredictRequest, context: Any) -> predict_pb2.PredictResponse:
        async def body() -> predict_pb2.PredictResponse:
            async with self.manager.lease(*_spec(request)) as served:
                limits.check_tensor_protos(request.inputs, self.max_tensor_elements)
                key, inputs = inference.predict_inputs(served.loaded, request)
                outputs = inference.select_outputs(await self.manager.run(served, key, inputs), list(request.output_filter))
                response = predict_pb2.PredictResponse()
                response.model_spec.name = served.model
                response.model_spec.version.value = served.number
                response.model_spec.signature_name = key
                for alias, array in outputs.items():
                    tensor_protos.fill(response.outputs[alias], array)
                return response

        return await self.calls.call("Predict", request, context, body)

    async def Classify(self, request: classification_pb2.ClassificationRequest, context: Any) -> Any:
        async def body() -> classification_pb2.ClassificationResponse:
            async with self.manager.lease(*_spec(request)) as served:
                key, inputs = inference.classify_inputs(served.loaded, request.model_spec.signature_name, request.input)
                count = len(next(iter(inputs.values())))
                labels, scores = inference.classify_result(await self.manager.run(served, key, inputs, "Classify"), count)
                response = classification_pb2.ClassificationResponse()
                _fill_spec(response, served, key)
                for row_labels, row_scores in zip(labels, scores):
                    classes = response.result.classifications.add()
                    for label, score in zip(row_labels, row_scores):
                        classes.classes.add(label=label, score=score)
                return response

        return await self.calls.call("Classify", request, context, body)

    async def Regress(self, request: regression_pb2.RegressionRequest, context: Any) -> Any:
        async def body() -> regression_pb2.RegressionResponse:
            async with self.manager.lease(*_spec(request)) as served:
                key, inputs = inference.regress_inputs(served.loaded, request.model_spec.signature_name, request.input)
                count = len(next(iter(inputs.values())))
                values = inference.regress_result(await self.manager.run(served, key, inputs, "Regress"), count)
                response = regression_pb2.RegressionResponse()
                _fill_spec(response, served, key)
                for value in values:
                    response.result.regressions.add(value=value)
                return response

        return await self.calls.call("Regress", request, context, body)

    async def MultiInference(self, request: inference_pb2.MultiInferenceRequest, context: Any) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported by this server")

    async def GetModelMetadata(self, request: Any, context: Any) -> Any:
        async def body() -> Any:
            _spec(request, servable=False)  # TF Serving checks the fields before the name
            fields = list(request.metadata_field)
            if not fields:
                raise ServingError("INVALID_ARGUMENT", "GetModelMetadataRequest must specify at least one metadata_field")
            for field in fields:
                if field != "signature_def":
                    raise ServingError("INVALID_ARGUMENT", f"Metadata field {field} is not supported")
            async with self.manager.lease(*_spec(request)) as served:
                return metadata_response(served)

        return await self.calls.call("GetModelMetadata", request, context, body)


def _fill_spec(response: Any, served: Any, key: str) -> None:
    response.model_spec.name = served.model
    response.model_spec.version.value = served.number
    response.model_spec.signature_name = key


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    def __init__(self, manager: Manager) -> None:
        self.manager = manager

    async def GetModelStatus(self, request: get_model_status_pb2.GetModelStatusRequest, context: Any) -> Any:
        try:
            name, version, _ = _spec(request, servable=False)  # a version label is ignored (get_model_status_impl.cc)
            return status_response(self.manager.status(name, version))
        except ServingError as error:
            await context.abort(error.grpc_code, error.message)

    async def HandleReloadConfigRequest(self, request: model_management_pb2.ReloadConfigRequest, context: Any) -> Any:
        try:
            await self.manager.apply_config(request.config)
        except ServingError as error:  # TF Serving returns the failure as the RPC's status
            await context.abort(error.grpc_code, error.message)
        return model_management_pb2.ReloadConfigResponse()


def add_services(server: grpc.aio.Server, manager: Manager, metrics: ServingMetrics,
                 max_tensor_elements: int = 1 << 24) -> None:
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(manager, metrics, max_tensor_elements), server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(manager), server)
