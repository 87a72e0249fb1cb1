"""The project's settings and folders, read one way by every part of it: a setting is the
environment's value when that is set and not empty, else the project's .env (names, ports, images:
what docker compose and the Makefile read), else, for the names and ports asked at generation, the
answer given then. The project's root is the folder that holds this package."""

from __future__ import annotations

from pathlib import Path

from tfserving_stack.project import Project, port_number, read_env_file
from tfserving_stack.project import environment as stack_environment

from .errors import ProjectError

__all__ = ["read_env_file"]  # for the tests, which read .env as the project does

# The folder that holds the package, .env, compose/ and loadtests/.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = PROJECT_ROOT / "compose"
LOCUSTFILE = PROJECT_ROOT / "loadtests" / "locustfile.py"
CANARY_LOCUSTFILE = PROJECT_ROOT / "loadtests" / "canary.py"  # GrpcCanaryUser, apart (see its docstring)


# The answers this project was generated with, under the names .env gives them.
GENERATED = {
    "MODEL_NAME": "{{ cookiecutter.model_name }}",
    "REST_PORT": "{{ cookiecutter.rest_port }}",
    "GRPC_PORT": "{{ cookiecutter.grpc_port }}",
    "PROMETHEUS_PORT": "{{ cookiecutter.prometheus_port }}",
    "GRAFANA_PORT": "{{ cookiecutter.grafana_port }}",
    "USE_GPU": "{{ cookiecutter.use_gpu }}",
}


def environment(root: Path = PROJECT_ROOT) -> dict[str, str]:
    """Every setting of the project at `root`, by the one rule: the environment's non-empty values
    over root/.env over the generation's answers (the stack's rule, tfserving_stack.project)."""
    return stack_environment(root, GENERATED)


def project() -> Project:
    """This project as the stack package reads it (root, settings)."""
    return Project.load(PROJECT_ROOT, GENERATED)


def setting(key: str) -> str:
    """An optional setting of this project ("" when unset), e.g. SERVING_CA_FILE."""
    return environment().get(key, "")


def required(key: str) -> str:
    """A setting this project cannot do without; ProjectError naming where to set it."""
    value = setting(key)
    if not value:
        raise ProjectError(f"{key} is not set: add it to {PROJECT_ROOT / '.env'} (or the environment)")
    return value


def models_dir() -> Path:
    """TF Serving's model root, where export publishes and serve serves: MODELS_DIR, else models/."""
    return Path(setting("MODELS_DIR") or "models")


def model_name() -> str:
    return required("MODEL_NAME")


def port(key: str) -> int:
    return port_number(key, required(key))


def rest_port() -> int:
    return port("REST_PORT")


def grpc_port() -> int:
    return port("GRPC_PORT")


def metrics_port() -> int:
    return port("LOADTEST_METRICS_PORT")


def prometheus_url() -> str:
    """The project's Prometheus, embedded or compose (both listen on PROMETHEUS_PORT)."""
    return f"http://127.0.0.1:{port('PROMETHEUS_PORT')}"


def slo_p99_ms() -> float:
    """The latency objective: 99% of requests faster than this (.env SLO_P99_MS; alerts use it too)."""
    return float(required("SLO_P99_MS"))
