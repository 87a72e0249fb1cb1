"""TF Serving's REST API on aiohttp (async, keep-alive) with orjson.

Routes, error bodies ({"error": ...}), status codes and Content-Type follow
http_rest_api_handler.cc; the Prometheus page is served on the same port when monitoring is on.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.parse
from typing import Any

import orjson
from aiohttp import web

from . import inference, limits, rest_replies, rest_requests
from .auth import ApiKeys, rest_middleware
from .errors import ServingError, from_exception, invalid
from .json_messages import NESTED_TOO_DEEPLY
from .manager import Manager
from .metrics import ServingMetrics
from .status import metadata_json, status_response, to_json_dict

PREDICTION = re.compile(r"/v1/models/([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?:(classify|regress|predict)", re.I)
STATUS = re.compile(r"/v1/models(?:/([^/:]+))?(?:/versions/(\d+)|/labels/([^/:]+))?(?:/(metadata))?", re.I)
JSON = "application/json"


INT64_MAX = 2**63 - 1


def _version(text: str | None) -> int | None:
    """absl::SimpleAtoi into an int64, as ParseModelInfo (http_rest_api_util.cc) converts it."""
    if not text:
        return None
    if int(text) > INT64_MAX:  # the pattern admits digits only
        raise invalid(f"Failed to convert version: {text} to numeric.")
    return int(text)


def _unquoted(text: str | None) -> str | None:
    """Model names and labels are matched percent-encoded, then decoded (curl_easy_unescape: no '+')."""
    return None if text is None else urllib.parse.unquote(text, errors="replace")


class RestApi:
    def __init__(self, manager: Manager, metrics: ServingMetrics, timeout_ms: int, metrics_path: str | None, *,
                 api_keys: ApiKeys | None = None, protect_metrics: bool = False,
                 max_request_bytes: int = 16 << 20, body_timeout: float | None = None) -> None:
        self.manager = manager
        self.metrics = metrics
        self.timeout = timeout_ms / 1000 if timeout_ms > 0 else None
        self.metrics_path = metrics_path
        self.api_keys = api_keys
        self.protect_metrics = protect_metrics
        self.max_request_bytes = max_request_bytes
        self.body_timeout = body_timeout

    def app(self) -> web.Application:
        middlewares = []
        if self.api_keys is not None:
            open_paths = [] if self.protect_metrics or not self.metrics_path else [self.metrics_path]
            middlewares.append(rest_middleware(self.api_keys, open_paths))
        app = web.Application(client_max_size=self.max_request_bytes, middlewares=middlewares)
        if self.metrics_path:
            app.router.add_get(self.metrics_path, self.prometheus)
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.handle)  # [\s\S]: names may hold newlines
        return app

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain")

    async def handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        path = request.raw_path.partition("?")[0]  # TF Serving matches the path as sent, then decodes names
        if not path.lower().startswith("/v1/") and path.lower() != "/v1":
            raise web.HTTPNotFound()  # only /v1/... reaches TF Serving's handler
        try:
            body = await limits.read_body(request, self.max_request_bytes, self.body_timeout)
        except limits.Rejected as rejected:
            response = web.Response(body=orjson.dumps({"error": rejected.message}), status=rejected.status,
                                    content_type=JSON)
            response.force_close()  # the rest of the body is not worth reading
            return response
        labels: dict[str, str] = {}
        try:
            async with asyncio.timeout(self.timeout):  # not wait_for: that runs the request in a task of its own
                reply = await self._dispatch(request.method, path, body, labels)
            status = 200
        except ServingError as error:
            reply, status = orjson.dumps({"error": error.message}), error.http_status
            labels["status"] = error.code
        except TimeoutError:
            reply, status = orjson.dumps({"error": "Deadline Exceeded"}), 504
            labels["status"] = "DEADLINE_EXCEEDED"
        except RecursionError:  # JSON nested deeper than the parsers recurse
            reply, status = orjson.dumps({"error": NESTED_TOO_DEEPLY}), 400
            labels["status"] = "INVALID_ARGUMENT"
        except Exception as error:  # never a bare traceback page: the contract's error shape
            wrapped = from_exception(error)
            reply, status = orjson.dumps({"error": wrapped.message}), wrapped.http_status
            labels["status"] = wrapped.code
        if "model" in labels:
            self.metrics.count_request(labels["model"], labels.get("status", "OK"))
            if status == 200:
                self.metrics.observe_request(labels["model"], labels["api"], "REST", (time.perf_counter() - started) * 1e6)
        return web.Response(body=reply, status=status, content_type=JSON)

    async def _dispatch(self, method: str, path: str, body: bytes, labels: dict[str, str]) -> bytes:
        if method == "POST" and (match := PREDICTION.fullmatch(path)):
            name, version_text, label, verb = match.groups()
            name, label = str(_unquoted(name)), _unquoted(label)
            labels.update(model=name, api=verb.lower())
            version = _version(version_text)
            doc = rest_requests.parse_body(body)
            signature = rest_requests.signature_name(doc)
            verb = verb.lower()
            # TF Serving reads a classify/regress body whole before it looks the model up; a predict
            # body needs the signature's input types first
            examples = None if verb == "predict" else self._examples(doc, verb)
            async with self.manager.lease(name, version, label) as served:
                if examples is None:
                    return await self._predict(served, signature, doc)
                return await self._classify_regress(served, signature, examples, verb)
        if method == "GET" and (match := STATUS.fullmatch(path)):
            name, version_text, label, metadata = match.groups()
            if not name:
                raise invalid("Missing model name in request.")
            name, label = str(_unquoted(name)), _unquoted(label)
            labels.update(model=name, api="")
            version = _version(version_text)
            if metadata:
                async with self.manager.lease(name, version, label) as served:
                    return orjson.dumps(metadata_json(served))
            # GetModelStatus ignores a label: all versions, as TF Serving answers (get_model_status_impl.cc)
            return orjson.dumps(to_json_dict(status_response(self.manager.status(name, version))))
        raise invalid(f"Malformed request: {method} {path}")

    async def _predict(self, served: Any, signature: str, doc: dict[str, Any]) -> bytes:
        key = inference.signature_key(signature)
        dtypes = served.loaded.input_dtypes.get(key)
        if dtypes is None:
            raise invalid(f'Serving signature name: "{key}" not found in signature def')
        arrays, layout = rest_requests.predict_request_tensors(doc, dtypes)
        outputs = await self.manager.run(served, key, arrays)
        return rest_replies.predict_reply(outputs, layout)

    @staticmethod
    def _examples(doc: dict[str, Any], verb: str) -> Any:
        """The Input proto of a classify/regress body."""
        from tensorflow_serving.apis import input_pb2

        examples, context = rest_requests.classify_regress_examples(doc, verb)
        input_proto = input_pb2.Input()
        if context is not None:
            input_proto.example_list_with_context.context.CopyFrom(context)
            input_proto.example_list_with_context.examples.extend(examples)
        else:
            input_proto.example_list.examples.extend(examples)
        return input_proto

    async def _classify_regress(self, served: Any, signature: str, input_proto: Any, verb: str) -> bytes:
        if verb == "classify":
            key, inputs = inference.classify_inputs(served.loaded, signature, input_proto)
            count = len(inputs[inference.CLASSIFY_INPUTS])
            labels, scores = inference.classify_result(await self.manager.run(served, key, inputs, "Classify"), count)
            return rest_replies.classify_reply(labels, scores)
        key, inputs = inference.regress_inputs(served.loaded, signature, input_proto)
        outputs = await self.manager.run(served, key, inputs, "Regress")
        return rest_replies.regress_reply(inference.regress_result(outputs, len(inputs[inference.REGRESS_INPUTS])))
