"""compose/models.config, and the version labels compose/README.md says to add, are configs that
tensorflow_model_server accepts, under the flags the compose `tfserving` service passes (which
`make serve` and the load-test scenarios pass too).

The rules are embedded_tfserving.validation.check_config: the checks TF Serving makes before it loads
a config (server_core.cc ReloadConfig), which the embedded server also runs at startup and on every
reload. Labels are checked before the config's models load, so a config a server starts with may
hold none (without --allow_version_labels_for_unavailable_models), and a label applied by a reload
must point at a version that the shipped version policy keeps AVAILABLE.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import text_format

from embedded_tfserving.config import read_model_server_config
from embedded_tfserving.flags import parse_flags
from embedded_tfserving.manager import aspired
from embedded_tfserving.validation import VersionLabelError, check_config
from tfserving_stack.embedded import server_flags

from {{ cookiecutter.package_name }} import settings
from {{ cookiecutter.package_name }}.loadtest.scenarios.common import server_flags as scenario_flags
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

README = PROJECT_ROOT / "compose" / "README.md"


def compose_flags() -> Any:
    return parse_flags(server_flags(settings.project()))


def documented_labels() -> str:
    """The version_labels block of compose/README.md's "Version labels" section."""
    section = README.read_text().split("## Version labels", 1)[1]
    return section.split("```", 2)[1]


@pytest.mark.parametrize("user", ["make serve", "load-test scenarios"])
def test_the_shipped_config_starts_tf_serving(user: str, tmp_path: Path) -> None:
    flags = parse_flags(server_flags(settings.project()) if user == "make serve"
                        else scenario_flags(tmp_path, batching=True))
    config = read_model_server_config(Path(flags.model_config_file))
    # Raises as TF Serving refuses: a label (nothing is loaded yet), a relative base path, a name twice...
    check_config(config, allow_version_labels_for_unavailable_models=flags.allow_version_labels_for_unavailable_models)


def test_the_documented_labels_apply_by_a_reload_once_their_versions_are_available() -> None:
    flags = compose_flags()
    allow = flags.allow_version_labels_for_unavailable_models
    shipped = read_model_server_config(Path(flags.model_config_file))
    labelled = copy.deepcopy(shipped)
    (model,) = labelled.model_config_list.config
    text_format.Merge(documented_labels(), model)
    labels = dict(model.version_labels)
    assert labels, "compose/README.md shows no version_labels"
    if not allow:  # in the file a server starts with, TF Serving refuses them: README says take them out first
        with pytest.raises(VersionLabelError):
            check_config(labelled)
    published = {version: Path(str(version)) for version in labels.values()}
    loaded = aspired(model, published)  # what the shipped version policy keeps AVAILABLE
    applied = check_config(labelled, previous=shipped, available={model.name: loaded}, labels={},
                           allow_version_labels_for_unavailable_models=allow)
    assert applied == {model.name: labels}
