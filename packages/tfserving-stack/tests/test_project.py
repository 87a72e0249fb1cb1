"""How the stack reads a project: the folder that holds .env and compose/, its settings by one rule
(the environment's non-empty values over .env over the defaults the project gives), and the
compose file's variables filled in as docker compose fills them."""

from __future__ import annotations

import pytest

from tfserving_stack import compose_file
from tfserving_stack.errors import StackError
from tfserving_stack.project import Project


def test_the_environment_wins_over_env_which_wins_over_the_defaults(make_project, monkeypatch) -> None:
    root = make_project(with_model=False, SLO_P99_MS="250")
    monkeypatch.setenv("SLO_P99_MS", "75")
    monkeypatch.setenv("MODEL_NAME", "")  # set but empty: not a value, .env's stands
    project = Project.load(root, {"MODEL_NAME": "default", "USE_GPU": "yes", "SLO_P99_MS": "1"})
    assert project.setting("SLO_P99_MS") == "75"
    assert project.model_name == "half_plus_two"
    assert project.use_gpu  # in the defaults only
    assert project.models_dir == (root / "models").resolve()


def test_a_folder_that_is_no_project_and_bad_settings_are_named(make_project, tmp_path) -> None:
    with pytest.raises(StackError, match=r"is not the project root \(no \.env or compose/ there\)"):
        Project.load(tmp_path)
    project = Project.load(make_project(with_model=False, REST_PORT="http"))
    with pytest.raises(StackError, match=r"REST_PORT='http' in \.env is not a TCP port number"):
        project.port("REST_PORT")
    with pytest.raises(StackError, match=r"BALANCER_PORT is not set: add it to .*\.env"):
        project.setting("BALANCER_PORT")


def test_compose_variables_are_filled_in_as_compose_does() -> None:
    env = {"SET": "value", "EMPTY": ""}
    text = "${SET} ${SET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} ${UNSET} $$HOME"
    assert compose_file.interpolate(text, env) == "value value d  d  $HOME"
    assert compose_file.defaults(text) == {"SET": "d", "EMPTY": "d"}


def test_the_services_a_profile_starts_and_their_published_ports(make_project) -> None:
    project = Project.load(make_project(with_model=False))
    loaded = compose_file.load(project)
    assert set(compose_file.active_services(loaded, [])) == {"tfserving"}
    assert set(compose_file.active_services(loaded, ["monitoring"])) == {"tfserving", "prometheus"}
    ports = compose_file.published_ports(loaded["services"]["tfserving"])
    assert ports == [project.port("REST_PORT"), project.port("GRPC_PORT")]
