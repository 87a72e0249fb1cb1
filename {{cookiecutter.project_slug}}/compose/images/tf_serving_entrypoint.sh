#!/bin/bash
# What the tensorflow/serving image runs (its Dockerfile writes the same line), with the embedded
# server: extra arguments are appended, so later flags win. Two differences: `exec`, so SIGTERM
# reaches the server and `docker stop` drains in-flight requests instead of waiting to kill it; and
# --bind_address=0.0.0.0, since the embedded server listens on 127.0.0.1 unless told otherwise.
exec python -m embedded_tfserving --port=8500 --rest_api_port=8501 \
  --model_name="${MODEL_NAME}" --model_base_path="${MODEL_BASE_PATH}/${MODEL_NAME}" \
  --bind_address=0.0.0.0 "$@"
