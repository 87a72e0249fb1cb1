"""The serving stack around TensorFlow Serving, from a project's compose/ folder and .env: docker
compose when a Docker engine answers, else the embedded server (embedded-tfserving) with a local
Prometheus, Alertmanager and webhook receiver as background processes recorded in run/embedded/;
local images built without a registry; the scale-out replicas behind HAProxy, replaced one by one
under load (`rolling`) or compared at several counts (`scale`); certificates for the secure setup."""

__version__ = "0.1.0"
