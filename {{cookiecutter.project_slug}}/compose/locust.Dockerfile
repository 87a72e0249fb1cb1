# Image for the loadtest profile: Python with the project's pinned requirements. The project
# itself is mounted at /project at run time, so code changes need no rebuild.
FROM python:3.11-slim
COPY requirements.txt /tmp/requirements.txt
# wheels/ beside it: requirements.txt finds the template's packages there (--find-links wheels)
COPY wheels /tmp/wheels
RUN pip install --no-cache-dir -r /tmp/requirements.txt
