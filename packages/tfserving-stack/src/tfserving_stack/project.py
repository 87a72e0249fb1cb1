"""A serving project as the stack reads it: its root (the folder that holds .env and compose/) and
its settings, by one rule: the environment's non-empty values over the root's .env over the
defaults the project gives (a generated project passes its generation's answers)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tfserving_loadtest.versions import published as published_versions

from .errors import StackError


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file; comments and blank lines skipped, quotes stripped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


def environment(root: Path, defaults: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every setting of the project at `root`: the environment's non-empty values over root/.env
    over `defaults`."""
    env_file = root / ".env"
    values = {**(defaults or {}), **(read_env_file(env_file) if env_file.is_file() else {})}
    values.update((key, value) for key, value in os.environ.items() if value)
    return values


def port_number(key: str, value: str) -> int:
    """`value` as a TCP port; StackError naming the setting when it is none."""
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise StackError(f"{key}={value!r} in .env is not a TCP port number")
    return int(value)


@dataclass(frozen=True)
class Project:
    root: Path
    env: dict[str, str]

    @classmethod
    def load(cls, root: Path, defaults: Mapping[str, str] | None = None) -> Project:
        """The project at `root`, its settings over `defaults`."""
        root = root.resolve()
        env_file = root / ".env"
        if not env_file.is_file() or not (root / "compose").is_dir():
            raise StackError(
                f"{root} is not the project root (no .env or compose/ there): "
                "run the command from the folder that holds the Makefile"
            )
        return cls(root=root, env=environment(root, defaults))

    def setting(self, key: str) -> str:
        try:
            return self.env[key]
        except KeyError:
            raise StackError(f"{key} is not set: add it to {self.root / '.env'}") from None

    def port(self, key: str) -> int:
        return port_number(key, self.setting(key))

    @property
    def model_name(self) -> str:
        return self.setting("MODEL_NAME")

    @property
    def use_gpu(self) -> bool:
        return self.env.get("USE_GPU", "no").lower() in {"yes", "true", "1"}

    @property
    def compose_dir(self) -> Path:
        return self.root / "compose"

    @property
    def compose_file(self) -> Path:
        return self.compose_dir / "docker-compose.yml"

    @property
    def models_dir(self) -> Path:
        """models/ of the project; MODELS_DIR (env or .env) serves models kept elsewhere."""
        return Path(self.env.get("MODELS_DIR") or self.root / "models").resolve()

    @property
    def run_dir(self) -> Path:
        return self.root / "run" / "embedded"


def require_published_model(project: Project) -> list[int]:
    """The published versions of the project's model; StackError naming the fix when there is none."""
    versions = published_versions(project.models_dir / project.model_name)
    if not versions:
        raise StackError(
            f"no published version of model {project.model_name!r} under "
            f"{project.models_dir / project.model_name} (expected <version>/saved_model.pb): "
            "run `make train export` first"
        )
    return sorted(versions)
