"""The project's names, ports and folders for the stack, read by settings.environment's one rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..contract import published_versions
from ..errors import StackError
from ..settings import PROJECT_ROOT, environment, port_number


@dataclass(frozen=True)
class Project:
    root: Path
    env: dict[str, str]

    @classmethod
    def load(cls, root: Path = PROJECT_ROOT) -> Project:
        """The project at `root` (default: the one this package belongs to; tests pass copies)."""
        root = root.resolve()
        env_file = root / ".env"
        if not env_file.is_file() or not (root / "compose").is_dir():
            raise StackError(
                f"{root} is not the project root (no .env or compose/ there): "
                "run the command from the folder that holds the Makefile"
            )
        return cls(root=root, env=environment(root))

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
