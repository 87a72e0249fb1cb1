"""The checks TF Serving makes on a ModelServerConfig before it loads anything (ServerCore::ReloadConfig
in server_core.cc), with its codes and messages, in its order:

1. ValidateModelConfigList: no model listed twice; every base path absolute (or a URI);
2. on a reload, ValidateNoModelsChangePlatforms: a model keeps its platform;
3. UpdateModelVersionLabelMap: every label points at a version that is AVAILABLE *now*, that is
   before this config's models load (so a label in the config a server starts with fails the start).
   With --allow_version_labels_for_unavailable_models a new label, or one that keeps its version,
   may point anywhere; moving an existing label to another version still needs it AVAILABLE;
4. CreateStoragePathRoutes: every platform is one the server has ("tensorflow").

The server runs `check_config` at startup and on every reload (gRPC HandleReloadConfigRequest and
--model_config_file polling), and a project's tests run it on the configs they ship, so a config the
embedded server accepts is one tensorflow_model_server accepts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from tensorflow_serving.config import model_server_config_pb2

from .errors import ServingError

TENSORFLOW = "tensorflow"  # the one platform tensorflow_model_server registers (platform_config_util.cc)
LabelMap = dict[str, dict[str, int]]  # model -> label -> version
# tsl::io::ParseURI: a scheme is [a-zA-Z][a-zA-Z0-9.]* followed by "://".
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9.]*://")


class VersionLabelError(ServingError):
    """A label that points at a version which is not AVAILABLE (FAILED_PRECONDITION)."""

    def __init__(self, model: str, version: int) -> None:
        super().__init__("FAILED_PRECONDITION", f"Request to assign label to version {version} of model {model}, "
                                                "which is not currently available for inference")


def _invalid(message: str) -> ServingError:
    return ServingError("INVALID_ARGUMENT", message)


def uri_is_relative_path(uri: str) -> bool:
    """server_core.cc UriIsRelativePath: no scheme, no host and not starting with '/'."""
    return _URI_SCHEME.match(uri) is None and not uri.startswith("/")


def validate_model_config_list(config_list: Any) -> None:
    """server_core.cc ValidateModelConfigList (without model_config_list_root_dir, which
    tensorflow_model_server never sets)."""
    names: set[str] = set()
    for model in config_list.config:
        if model.name in names:
            raise _invalid(f"Illegal to list model {model.name} multiple times in config list")
        names.add(model.name)
    for model in config_list.config:
        if uri_is_relative_path(model.base_path):
            raise _invalid(f"Expected model {model.name} to have an absolute path or URI; "
                           f"got base_path()={model.base_path}")


def platform(model: Any) -> str:
    """server_core.cc GetPlatform: model_platform, or the deprecated model_type."""
    if model.model_type != model_server_config_pb2.MODEL_TYPE_UNSPECIFIED:
        if model.model_platform:
            raise _invalid("Illegal setting both ModelServerConfig::model_type (deprecated) and "
                           f"ModelServerConfig::model_platform, model name is {model.name}")
        if model.model_type != model_server_config_pb2.TENSORFLOW:
            raise _invalid(f"ModelServerConfig::model_type choice {model.model_type} not supported.")
        return TENSORFLOW
    if not model.model_platform:
        raise _invalid("Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                       f"ModelServerConfig::model_platform, model name is {model.name}")
    name: str = model.model_platform
    return name


def validate_no_models_change_platforms(old_list: Any, new_list: Any) -> None:
    """server_core.cc ValidateNoModelsChangePlatforms."""
    old = {model.name: platform(model) for model in old_list.config}
    for model in new_list.config:
        if model.name in old and platform(model) != old[model.name]:
            raise _invalid(f"Illegal to change a model's platform. For model {model.name} platform was "
                           f"{old[model.name]} and new platform requested is {platform(model)}")


def version_label_map(config_list: Any, available: Mapping[str, Collection[int]], labels: LabelMap,
                      allow_unavailable: bool) -> LabelMap:
    """server_core.cc UpdateModelVersionLabelMap: the new label map, built from the config alone
    (labels of models no longer listed go), checked against the versions AVAILABLE now and the
    current map `labels`."""
    new: LabelMap = {}
    for model in config_list.config:
        for label, version in model.version_labels.items():
            moved = labels.get(model.name, {}).get(label, version) != version
            if not (allow_unavailable and not moved) and version not in available.get(model.name, ()):
                raise VersionLabelError(model.name, version)
            new.setdefault(model.name, {})[label] = version
    return new


def check_config(config: Any, *, previous: Any = None, available: Mapping[str, Collection[int]] | None = None,
                 labels: LabelMap | None = None, allow_version_labels_for_unavailable_models: bool = False) -> LabelMap:
    """Refuse `config` (a ModelServerConfig) as TF Serving would, raising ServingError with its code
    and message; return the label map it installs.

    `previous` is the config being replaced (None at startup), `available` the versions of each
    model that are AVAILABLE when it is applied (none at startup) and `labels` the current label
    map. A config that fails changes nothing: the caller applies it only once this returns."""
    if config.WhichOneof("config") != "model_config_list":  # model_service_impl.cc
        raise _invalid("ServerModelConfig type not supported by HandleReloadConfigRequest. "
                       "Only ModelConfigList is currently supported")
    validate_model_config_list(config.model_config_list)
    if previous is not None:
        validate_no_models_change_platforms(previous.model_config_list, config.model_config_list)
    new_labels = version_label_map(config.model_config_list, available or {}, labels or {},
                                   allow_version_labels_for_unavailable_models)
    for model in config.model_config_list.config:  # server_core.cc CreateStoragePathRoutes
        if platform(model) != TENSORFLOW:
            raise _invalid(f"Model {model.name} requests unsupported platform {platform(model)}")
    return new_labels
