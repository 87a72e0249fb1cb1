"""The embedded model server: TensorFlow Serving's flags, REST and gRPC APIs, batching, model lifecycle and metrics."""
