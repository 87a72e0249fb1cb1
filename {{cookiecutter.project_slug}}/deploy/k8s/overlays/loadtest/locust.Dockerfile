# The Locust image of the loadtest overlay. compose runs the image of compose/locust.Dockerfile
# (Python and the pinned requirements) with the project mounted at /project; a pod has no such
# mount, so this copies the code the locustfile imports onto that image. From the project root:
#   docker compose --env-file .env -f compose/docker-compose.yml build locust-master
#   docker build -f deploy/k8s/overlays/loadtest/locust.Dockerfile -t {{ cookiecutter.project_slug }}-locust:k8s .
# LOCUST_IMAGE may also be the model server of `make images` (localhost/<project>/model-server:local).
ARG LOCUST_IMAGE={{ cookiecutter.project_slug }}-locust:latest
FROM ${LOCUST_IMAGE}
WORKDIR /project
COPY {{ cookiecutter.package_name }} {{ cookiecutter.package_name }}
COPY loadtests loadtests
ENV PYTHONPATH=/project
