"""Score rows with the served CTR model over TF Serving's gRPC API, as an application would.

Needs only `grpcio` and `tensorflow-serving-api` (with TensorFlow, for its tensor protos), no code of
this project; in the style of TF Serving's own `resnet_client_grpc.py`. With `make serve` running:

    python examples/grpc_client.py --rows 3
"""

from __future__ import annotations

import argparse

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

DENSE_FEATURES, CATEGORICAL_FEATURES = 13, 26


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="localhost:8500", help="the server's gRPC host:port")
    parser.add_argument("--model", default="{{ cookiecutter.model_name }}")
    parser.add_argument("--rows", type=int, default=1)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    dense = rng.integers(0, 50, size=(args.rows, DENSE_FEATURES)).astype(np.float32)
    categorical = np.array([[f"{token:08x}" for token in row]
                            for row in rng.integers(0, 2**32, size=(args.rows, CATEGORICAL_FEATURES))], dtype=object)

    request = predict_pb2.PredictRequest()
    request.model_spec.name = args.model
    request.model_spec.signature_name = "serving_default"
    request.inputs["dense"].CopyFrom(tf.make_tensor_proto(dense))
    request.inputs["categorical"].CopyFrom(tf.make_tensor_proto(categorical))
    with grpc.insecure_channel(args.target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            reply = stub.Predict(request, timeout=30)
        except grpc.RpcError as error:  # TF Serving's status: code and message
            raise SystemExit(f"{error.code().name}: {error.details()}") from None
    for probability in tf.make_ndarray(reply.outputs["probability"]):
        print(f"click probability: {probability:.4f}")


if __name__ == "__main__":
    main()
