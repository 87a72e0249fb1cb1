"""Scale-out in compose (profile replicas, `REPLICAS=N make serve`): how many replicas, and the model
version each one is pinned to.

Each replica reads a model config pinned to one version (run/replicas/<model>-v<N>.config, mounted at
/config/run/): with TF Serving's default policy every replica would load a newly published version
within a second of the others, which is a swap, not a rollout.
"""

from __future__ import annotations

from tfserving_loadtest import model_config

from .errors import StackError
from .project import Project

SERVICE = "tfserving-replica"
PROFILE = "replicas"
MAX_REPLICAS = 8  # the balancer's server slots (server-template in compose/haproxy.cfg)
# Where compose/docker-compose.yml mounts the project's run/ in a replica.
CONTAINER_RUN_DIR = "run"


def count(project: Project) -> int:
    """REPLICAS (the environment, else .env; 1 when unset)."""
    value = project.env.get("REPLICAS", "1").strip() or "1"
    if not value.isdigit() or not 1 <= int(value) <= MAX_REPLICAS:
        raise StackError(f"REPLICAS={value!r} must be a whole number from 1 to {MAX_REPLICAS} "
                         f"(the balancer has {MAX_REPLICAS} server slots, compose/haproxy.cfg)")
    return int(value)


def pin(project: Project, version: int) -> str:
    """Write compose/models.config with the project's model pinned to `version`, under run/replicas/;
    the value of REPLICA_MODEL_CONFIG that makes a replica read it."""
    # No labels: a label may name a version this replica does not load, which would fail the whole config.
    config = model_config.pinned(model_config.read(project.compose_dir / "models.config"), project.model_name,
                                 [version], {})
    name = f"{project.model_name}-v{version}.config"
    path = project.root / "run" / "replicas" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(model_config.render(config, f"compose/models.config with {project.model_name} pinned to version "
                                                f"{version}, written by `serve` or a rollout for the replicas that serve it."))
    return f"{CONTAINER_RUN_DIR}/replicas/{name}"
