"""Shared pieces of the hardening tests: the generated TF1 model (y = 0.5x + 2, input x [-1, 1]) behind the
embedded server, plain or with TLS and API keys. Every server binds 127.0.0.1 on free ports and is
stopped by its fixture (see conftest.py)."""

from __future__ import annotations

import json
import ssl
import sys
import urllib.request
from pathlib import Path

from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import predict_pb2

from {{ cookiecutter.package_name }}.serving.process import EmbeddedServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from serving_models import publish, write_tf1_model  # noqa: E402,F401

MODEL = "hp2"
PREDICT_BODY = b'{"instances": [[1.0], [2.0]]}'


class SecureServer(EmbeddedServer):
    """EmbeddedServer whose readiness probe speaks TLS (trusting `ca`) and sends an API key."""

    def __init__(self, flags: list[str], *, ca: Path | None = None, api_key: str = "", **kwargs) -> None:
        super().__init__(flags, **kwargs)
        self.ca, self.api_key = ca, api_key

    @property
    def rest_url(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.rest_port}"

    def _available(self) -> bool:
        request = urllib.request.Request(f"{self.rest_url}/v1/models/{self.model_name}",
                                         headers={"X-API-Key": self.api_key} if self.api_key else {})
        context = ssl.create_default_context(cafile=str(self.ca)) if self.ca else None
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as reply:
                status = json.loads(reply.read())
        except (OSError, ValueError):
            return False
        return any(v.get("state") == "AVAILABLE" for v in status.get("model_version_status", []))


def api_key(certs: dict[str, Path]) -> str:
    return next(line for line in certs["api_keys.txt"].read_text().splitlines() if line and not line.startswith("#"))


def model_folder(root: Path, version_dir: Path) -> Path:
    base = root / MODEL
    publish(version_dir, base, 1)
    return base


def batching_file(folder: Path, **fields: int) -> Path:
    path = folder / "batching.conf"
    path.write_text("\n".join("%s { value: %d }" % item for item in fields.items()))
    return path


def grpc_request(shape: list[int], values: list[float]) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    dims = [tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in shape]
    request.inputs["x"].CopyFrom(tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT, tensor_shape=tensor_shape_pb2.TensorShapeProto(dim=dims), float_val=values))
    return request
