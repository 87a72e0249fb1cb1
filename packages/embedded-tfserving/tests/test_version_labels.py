"""Version labels as TF Serving applies them, and the other checks it makes on a ModelServerConfig.

TF Serving assigns a config's labels before it loads the config's models (server_core.cc
ServerCore::ReloadConfig calls UpdateModelVersionLabelMap before AddModelsViaModelConfigList), so:
a label in the initial config refuses the start unless --allow_version_labels_for_unavailable_models;
on a reload labels are checked against the versions AVAILABLE before the reload; with the flag a new
label may point anywhere but an existing one moves only to an AVAILABLE version; a reload that fails
changes nothing. The server tests speak gRPC/REST only; the `check_config` cases are the checks
themselves, which the project's tests also run on the configs it ships.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import text_format
from tensorflow_serving.apis import (
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    prediction_service_pb2_grpc,
)
from tensorflow_serving.config import model_server_config_pb2

from embedded_tfserving.errors import ServingError, StartupError
from embedded_tfserving.process import ServerProcess
from embedded_tfserving.testing import place_version, wait_for, write_tf1_model
from embedded_tfserving.validation import check_config

from .support import raw_predict_request

UNAVAILABLE = "Request to assign label to version {} of model m, which is not currently available for inference"
FLAG = "--allow_version_labels_for_unavailable_models"


def config(base: Path, labels: dict[str, int] | None = None, policy: str = "all {}", extra: str = "") -> str:
    """A ModelServerConfig text proto serving model `m` from `base`, with `labels`."""
    label_text = "".join('version_labels { key: "' + k + f'" value: {v} ' + "} " for k, v in (labels or {}).items())
    return ('model_config_list { config { name: "m" base_path: "' + str(base) + '" model_platform: "tensorflow" '
            + "model_version_policy { " + policy + " } " + label_text + "} " + extra + "}")


def parse(text: str) -> model_server_config_pb2.ModelServerConfig:
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def reload(server: ServerProcess, text: str) -> tuple[grpc.StatusCode, str]:
    """HandleReloadConfigRequest with `text`; the RPC's code and details."""
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        try:
            stub.HandleReloadConfigRequest(model_management_pb2.ReloadConfigRequest(config=parse(text)), timeout=120)
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def predict(server: ServerProcess, label: str) -> tuple[int, Any]:
    """REST predict of x=1 through `label`: version 1 answers 2.5, version 2 answers 3.5."""
    reply = requests.post(f"{server.rest_url}/v1/models/m/labels/{label}:predict", json={"instances": [[1.0]]},
                          timeout=60)
    return reply.status_code, reply.json()


def grpc_predict(server: ServerProcess, label: str) -> tuple[grpc.StatusCode, str]:
    request = raw_predict_request([1, 1], [1.0], model="m")
    request.model_spec.version_label = label
    with grpc.insecure_channel(server.grpc_target) as channel:
        try:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=60)
        except grpc.RpcError as error:
            return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


def states(server: ServerProcess, model: str = "m") -> dict[int, str]:
    with grpc.insecure_channel(server.grpc_target) as channel:
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = model
        reply = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(request, timeout=30)
    return {v.version: get_model_status_pb2.ModelVersionStatus.State.Name(v.state) for v in reply.model_version_status}


@pytest.fixture(scope="module")
def two_versions(tf1_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A base path with version 1 (y = 0.5x + 2) and version 2 (y = 0.5x + 3)."""
    folder = tmp_path_factory.mktemp("labels")
    place_version(tf1_model, folder / "m", 1)
    place_version(write_tf1_model(folder / "v2", b=3.0), folder / "m", 2)
    return folder / "m"


@pytest.fixture(scope="module")
def labelled(two_versions: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Started with the flag and `stable -> 1` in its initial config; both versions loaded."""
    folder = tmp_path_factory.mktemp("labelled")
    (folder / "models.config").write_text(config(two_versions, {"stable": 1}))
    flags = [f"--model_config_file={folder / 'models.config'}", "--file_system_poll_wait_seconds=1", FLAG]
    with ServerProcess(flags, folder / "server.log") as server:
        server.start()
        wait_for(lambda: states(server) == {2: "AVAILABLE", 1: "AVAILABLE"}, "both versions to load")
        yield server


# --- startup ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_label_in_the_initial_config_refuses_the_start(tf1_model: Path, tmp_path: Path) -> None:
    # server_core.cc ReloadConfig: UpdateModelVersionLabelMap runs before the first config's models load;
    # serving_config.md: "If you would like to assign a label to a version that is not yet loaded (for ex.
    # by supplying both the model version and the label at startup time) then you must set" the flag.
    place_version(tf1_model, tmp_path / "m", 1)
    (tmp_path / "models.config").write_text(config(tmp_path / "m", {"stable": 1}))
    log = tmp_path / "server.log"
    server = ServerProcess([f"--model_config_file={tmp_path / 'models.config'}"], log)
    with pytest.raises(StartupError, match="exited with code 1"):
        server.start()
    text = log.read_text()
    assert f"FAILED_PRECONDITION: {UNAVAILABLE.format(1)}." in text
    assert "add it to the config (a reload" in text and f"or pass {FLAG}" in text
    assert "Successfully loaded servable version" not in text  # refused before loading anything


@pytest.mark.slow
def test_with_the_flag_the_initial_label_is_accepted_and_resolves(labelled: ServerProcess) -> None:
    # server_core_test.cc AssignLabelToUnavailableVersionAllowed (here: at startup, as serving_config.md says)
    assert predict(labelled, "stable") == (200, {"predictions": [[2.5]]})


# --- reloads (HandleReloadConfigRequest) --------------------------------------------------------

@pytest.mark.slow
def test_labels_on_available_versions_resolve(labelled: ServerProcess, two_versions: Path) -> None:
    # server_core_test.cc ModelSpecMultipleVersionsAvailable
    assert reload(labelled, config(two_versions, {"stable": 1, "A": 1, "B": 2})) == (grpc.StatusCode.OK, "")
    assert predict(labelled, "A") == (200, {"predictions": [[2.5]]})
    assert predict(labelled, "B") == (200, {"predictions": [[3.5]]})
    assert grpc_predict(labelled, "nonexistent_label") == (
        grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: nonexistent_label")


@pytest.mark.slow
def test_moving_an_existing_label_to_an_unavailable_version_fails_even_with_the_flag(
        labelled: ServerProcess, two_versions: Path) -> None:
    # server_core_test.cc AssignExistingLabelToUnavailableVersionDisallowed
    assert reload(labelled, config(two_versions, {"stable": 1, "A": 1, "B": 2}))[0] == grpc.StatusCode.OK
    assert reload(labelled, config(two_versions, {"stable": 1, "A": 99, "B": 2})) == (
        grpc.StatusCode.FAILED_PRECONDITION, UNAVAILABLE.format(99))
    assert predict(labelled, "A") == (200, {"predictions": [[2.5]]})  # the label map was not swapped


@pytest.mark.slow
def test_with_the_flag_a_new_label_may_point_at_a_version_that_is_not_loaded(
        labelled: ServerProcess, two_versions: Path) -> None:
    # server_core_test.cc AssignLabelToUnavailableVersionAllowed; a request through it resolves to
    # Specific(m, 99) (server_core.cc ServableRequestFromModelSpec), which BasicManager does not find.
    assert reload(labelled, config(two_versions, {"stable": 1, "future": 99})) == (grpc.StatusCode.OK, "")
    not_found = "Servable not found for request: Specific(m, 99)"
    assert predict(labelled, "future") == (404, {"error": not_found})
    assert grpc_predict(labelled, "future") == (grpc.StatusCode.NOT_FOUND, not_found)
    # UpdateModelVersionLabelMap: a label that keeps its version is not "existing with a different version"
    assert reload(labelled, config(two_versions, {"stable": 1, "future": 99})) == (grpc.StatusCode.OK, "")
    assert reload(labelled, config(two_versions, {"stable": 1, "future": 98})) == (
        grpc.StatusCode.FAILED_PRECONDITION, UNAVAILABLE.format(98))
    assert reload(labelled, config(two_versions, {"stable": 1, "future": 2})) == (grpc.StatusCode.OK, "")
    assert predict(labelled, "future") == (200, {"predictions": [[3.5]]})


@pytest.mark.slow
def test_a_reload_that_fails_the_label_check_changes_nothing(labelled: ServerProcess, two_versions: Path) -> None:
    # server_core.cc ReloadConfig returns at UpdateModelVersionLabelMap, before AddModelsViaModelConfigList
    # and before the new label map is swapped in: no model is added, no policy changes, no label moves.
    assert reload(labelled, config(two_versions, {"stable": 1, "A": 1}))[0] == grpc.StatusCode.OK
    other = 'config { name: "other" base_path: "' + str(two_versions) + '" model_platform: "tensorflow" } '
    refused = config(two_versions, {"stable": 2, "A": 99}, policy="specific { versions: 2 }", extra=other)
    assert reload(labelled, refused) == (grpc.StatusCode.FAILED_PRECONDITION, UNAVAILABLE.format(99))
    time.sleep(2)  # two version polls: a policy that had been applied would unload version 1 by now
    assert states(labelled) == {2: "AVAILABLE", 1: "AVAILABLE"}
    assert predict(labelled, "stable") == (200, {"predictions": [[2.5]]})
    assert predict(labelled, "A") == (200, {"predictions": [[2.5]]})
    with pytest.raises(grpc.RpcError) as raised:
        states(labelled, "other")
    assert (raised.value.code(), raised.value.details()) == (
        grpc.StatusCode.NOT_FOUND, "Could not find any versions of model other")


@pytest.mark.slow
def test_a_reload_is_validated_as_a_startup_config_is(labelled: ServerProcess, two_versions: Path) -> None:
    # server_core_test.cc DuplicateModelNameInConfig, RelativePathFails (ValidateModelConfigList on every ReloadConfig)
    twice = config(two_versions, extra='config { name: "m" base_path: "/elsewhere" model_platform: "tensorflow" } ')
    assert reload(labelled, twice) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Illegal to list model m multiple times in config list")
    assert reload(labelled, config(Path("models/m"))) == (
        grpc.StatusCode.INVALID_ARGUMENT, "Expected model m to have an absolute path or URI; got base_path()=models/m")
    assert states(labelled) == {2: "AVAILABLE", 1: "AVAILABLE"}


# --- without the flag, and a polled config file -------------------------------------------------

@pytest.mark.slow
def test_without_the_flag_labels_apply_once_their_version_is_available(
        tf1_model: Path, tmp_path: Path) -> None:
    # server_core_test.cc AssignLabelToUnavailableVersion; server.cc PollFilesystemAndReloadConfig reads
    # and applies the file at every poll, so a refused file is logged each time and applies once its
    # label's version is AVAILABLE. (gRPC reloads here repeat the file, which the next poll re-applies.)
    base = tmp_path / "m"
    place_version(tf1_model, base, 1)
    models_config = tmp_path / "models.config"
    models_config.write_text(config(base))
    log = tmp_path / "server.log"
    flags = [f"--model_config_file={models_config}", "--model_config_file_poll_wait_seconds=1",
             "--file_system_poll_wait_seconds=1"]
    with ServerProcess(flags, log) as server:
        server.start()
        models_config.write_text(config(base, {"stable": 1}))  # version 1 is AVAILABLE: applies
        wait_for(lambda: predict(server, "stable")[0] == 200, "the label on version 1 to apply")
        assert predict(server, "stable") == (200, {"predictions": [[2.5]]})
        assert reload(server, config(base, {"stable": 1})) == (grpc.StatusCode.OK, "")
        assert reload(server, config(base, {"stable": 1, "nice_try": 7})) == (
            grpc.StatusCode.FAILED_PRECONDITION, UNAVAILABLE.format(7))

        models_config.write_text(config(base, {"stable": 1, "canary": 2}))
        refused = f"Not applying {models_config}: FAILED_PRECONDITION: {UNAVAILABLE.format(2)}"
        wait_for(lambda: log.read_text().count(refused) >= 2, "the label on version 2 to be refused at two polls")
        assert predict(server, "canary") == (400, {"error": "Unrecognized servable version label: canary"})
        assert predict(server, "stable") == (200, {"predictions": [[2.5]]})  # the previous config stays
        place_version(write_tf1_model(tmp_path / "v2", b=3.0), base, 2)
        wait_for(lambda: predict(server, "canary")[0] == 200, "the label to apply once version 2 is AVAILABLE")
        assert predict(server, "canary") == (200, {"predictions": [[3.5]]})
        assert predict(server, "stable") == (200, {"predictions": [[2.5]]})


# --- the checks themselves (validation.check_config) --------------------------------------------

def refusal(text: str, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ServingError) as raised:
        check_config(parse(text), **kwargs)
    return raised.value.code, raised.value.message


def one_model(fields: str) -> str:
    return 'model_config_list { config { name: "m" ' + fields + " } }"


def test_startup_labels_need_the_flag() -> None:
    labelled = one_model('base_path: "/models/m" model_platform: "tensorflow" version_labels { key: "s" value: 1 }')
    assert refusal(labelled) == ("FAILED_PRECONDITION", UNAVAILABLE.format(1))
    assert check_config(parse(labelled), allow_version_labels_for_unavailable_models=True) == {"m": {"s": 1}}
    assert check_config(parse(labelled), available={"m": {1}}, labels={}) == {"m": {"s": 1}}


def test_labels_of_models_no_longer_listed_go() -> None:
    # UpdateModelVersionLabelMap builds the new map from the new config only
    text = one_model('base_path: "/models/m" model_platform: "tensorflow"')
    assert check_config(parse(text), available={"m": {1}}, labels={"m": {"s": 1}, "gone": {"x": 1}}) == {}


@pytest.mark.parametrize(("fields", "message"), [
    # server_core_test.cc RelativePathFails (UriIsRelativePath: an empty path is relative too)
    ('base_path: "models/m" model_platform: "tensorflow"',
     "Expected model m to have an absolute path or URI; got base_path()=models/m"),
    ('base_path: "" model_platform: "tensorflow"', "Expected model m to have an absolute path or URI; got base_path()="),
    # server_core_test.cc UnknownModelPlatform (CreateStoragePathRoutes)
    ('base_path: "/models/m" model_platform: "not_a_known_platform"',
     "Model m requests unsupported platform not_a_known_platform"),
    # server_core.cc GetPlatform
    ('base_path: "/models/m"', "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
                               "ModelServerConfig::model_platform, model name is m"),
    # server_core_test.cc IllegalConfigModelTypeAndPlatformSet
    ('base_path: "/models/m" model_platform: "tensorflow" model_type: TENSORFLOW',
     "Illegal setting both ModelServerConfig::model_type (deprecated) and ModelServerConfig::model_platform, "
     "model name is m"),
    ('base_path: "/models/m" model_type: OTHER', "ModelServerConfig::model_type choice 2 not supported."),
])
def test_model_config_list_validation(fields: str, message: str) -> None:
    assert refusal(one_model(fields)) == ("INVALID_ARGUMENT", message)


def test_accepted_model_config_lists() -> None:
    # server_core_test.cc DeprecatedModelTypeConfig; URIs count as absolute (UriIsRelativePath)
    for fields in ('base_path: "/models/m" model_type: TENSORFLOW', 'base_path: "gs://bucket/m" model_platform: "tensorflow"',
                   'base_path: "s3://bucket" model_platform: "tensorflow"'):
        assert check_config(parse(one_model(fields))) == {}


def test_duplicate_names_and_platform_changes() -> None:
    # server_core_test.cc DuplicateModelNameInConfig, IllegalToChangeModelPlatform
    model = 'config { name: "m" base_path: "/models/m" model_platform: "tensorflow" } '
    assert refusal("model_config_list { " + model * 2 + "}") == (
        "INVALID_ARGUMENT", "Illegal to list model m multiple times in config list")
    previous = parse(one_model('base_path: "/models/m" model_platform: "tensorflow"'))
    assert refusal(one_model('base_path: "/models/m" model_platform: "other"'), previous=previous) == (
        "INVALID_ARGUMENT", "Illegal to change a model's platform. For model m platform was tensorflow and "
                            "new platform requested is other")
    # model_service_impl.cc HandleReloadConfigRequest
    assert refusal("") == ("INVALID_ARGUMENT", "ServerModelConfig type not supported by HandleReloadConfigRequest. "
                                               "Only ModelConfigList is currently supported")
