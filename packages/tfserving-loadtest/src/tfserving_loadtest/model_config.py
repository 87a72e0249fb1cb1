"""A models.config, the ModelServerConfig that TF Serving (and the embedded server) polls with
--model_config_file: read it, pin a model to explicit versions with version labels, write it back.

The servers re-read the file every --model_config_file_poll_wait_seconds,
so a rewrite applies without a restart. A config the server rejects (a label on a version that is not
AVAILABLE, say) changes nothing there: it keeps the last config it accepted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from embedded_tfserving import errors as server_errors
from embedded_tfserving.config import read_model_server_config
from google.protobuf import text_format
from tensorflow_serving.config.model_server_config_pb2 import ModelConfig, ModelServerConfig

from .errors import ConfigError


def read(path: Path) -> ModelServerConfig:
    """The file as the embedded server reads it (the same parser and checks)."""
    try:
        return read_model_server_config(path)
    except server_errors.ConfigError as error:
        raise ConfigError(f"cannot use the model config: {error}") from None


def model_entry(config: ModelServerConfig, name: str) -> ModelConfig:
    for entry in config.model_config_list.config:
        if entry.name == name:
            return entry
    raise ConfigError(f"model {name!r} is not in the model config (models: "
                     f"{', '.join(e.name for e in config.model_config_list.config) or 'none'})")


def labels(config: ModelServerConfig, name: str) -> dict[str, int]:
    return dict(model_entry(config, name).version_labels)


def pinned_versions(config: ModelServerConfig, name: str) -> list[int] | None:
    """The versions of a `specific` policy; None when the policy is `latest` or `all`."""
    policy = model_entry(config, name).model_version_policy
    return sorted(policy.specific.versions) if policy.WhichOneof("policy_choice") == "specific" else None


def pinned(config: ModelServerConfig, name: str, versions: Iterable[int], version_labels: Mapping[str, int]
           ) -> ModelServerConfig:
    """A copy of `config` serving exactly `versions` of `name`, with exactly these labels."""
    changed = _with_labels(config, name, version_labels)
    model_entry(changed, name).model_version_policy.specific.versions.extend(sorted(set(versions)))
    return changed


def unpinned(config: ModelServerConfig, name: str, num_versions: int = 2) -> ModelServerConfig:
    """A copy of `config` serving the `num_versions` newest versions of `name`, with no labels:  a
    policy for servers that serve copies of the newest version only."""
    changed = _with_labels(config, name, {})
    model_entry(changed, name).model_version_policy.latest.num_versions = num_versions
    return changed


def _with_labels(config: ModelServerConfig, name: str, version_labels: Mapping[str, int]) -> ModelServerConfig:
    """A copy of `config` with exactly these labels on `name` and its version policy cleared, for the
    caller to set."""
    changed = ModelServerConfig()
    changed.CopyFrom(config)
    entry = model_entry(changed, name)
    entry.model_version_policy.Clear()
    entry.version_labels.clear()
    entry.version_labels.update(version_labels)
    return changed


def render(config: ModelServerConfig, note: str) -> str:
    header = "".join(f"# {line}\n" for line in note.splitlines())
    return header + text_format.MessageToString(config)


def write(path: Path, config: ModelServerConfig, note: str) -> None:
    """Rewrite the file in place, in one write. Not through a rename: compose bind-mounts this one
    file, and a container keeps reading the inode it mounted. A server that reads the file half
    written fails to parse it and keeps its config until the next poll (an empty file: TF Serving
    takes no action)."""
    text = render(config, note)
    with path.open("r+") as file:
        file.write(text)
        file.truncate()
