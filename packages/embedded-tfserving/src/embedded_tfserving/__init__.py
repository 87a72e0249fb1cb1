"""A TensorFlow Serving work-alike in Python: TF Serving's REST and gRPC APIs, flags, config files,
batching, version lifecycle and metrics, for machines where `tensorflow/serving` cannot run.

Run it with `python -m embedded_tfserving <tensorflow_model_server flags>`, or as a child process
with `embedded_tfserving.process.ServerProcess`. See README.md.
"""

__version__ = "0.1.0"
