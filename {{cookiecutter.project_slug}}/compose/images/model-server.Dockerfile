# The embedded model server in the shape of the tensorflow/serving image: ports 8500 (gRPC) and
# 8501 (REST), MODEL_NAME and MODEL_BASE_PATH (default /models), arguments appended to the
# server's flags. Locust runs from it too (the compose file sets its entrypoint).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# The project's pinned requirements, offline: the wheels were downloaded on the host.
RUN --mount=type=bind,source=wheels,target=/wheels \
    python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /wheels -r /wheels/requirements.txt
# The project's wheel: the package Locust's users import (the embedded server came with the requirements).
RUN --mount=type=bind,source=project,target=/project-wheel \
    /opt/venv/bin/pip install --no-cache-dir --no-index --no-deps /project-wheel/*.whl
COPY --chmod=0755 tf_serving_entrypoint.sh /usr/bin/tf_serving_entrypoint.sh
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    MODEL_BASE_PATH=/models MODEL_NAME=model TF_CPP_MIN_LOG_LEVEL=2
RUN mkdir -p "${MODEL_BASE_PATH}"
EXPOSE 8500 8501
ENTRYPOINT ["/usr/bin/tf_serving_entrypoint.sh"]
