"""What cannot work here stops before anything starts or changes, and says what to do: compose mode
or an image build with no Docker engine answering, a second `serve` of a running stack (in
test_embedded_stack.py), `status` and `stop` with nothing running."""

from __future__ import annotations

from .conftest import stack


def test_compose_mode_and_images_without_an_engine_say_so_and_change_nothing(make_project, tmp_path) -> None:
    root = make_project(with_model=False)
    (root / "models" / "half_plus_two" / "1").mkdir()
    (root / "models" / "half_plus_two" / "1" / "saved_model.pb").write_bytes(b"")
    env_before = (root / ".env").read_text()
    no_engine = f"unix://{tmp_path / 'no-engine.sock'}"  # a socket nobody serves, whether or not an engine runs here

    served = stack(root, "serve", "--mode", "compose", DOCKER_HOST=no_engine)
    assert served.returncode == 1, served.stdout
    assert "no Docker engine answers" in served.stderr and "SERVE_MODE=embedded" in served.stderr, served.stderr
    assert "Traceback" not in served.stderr

    built = stack(root, "images", "build", DOCKER_HOST=no_engine)
    assert built.returncode == 1, built.stdout
    assert "needs a Docker engine, and none answers" in built.stderr and "nothing was built" in built.stderr
    assert (root / ".env").read_text() == env_before and not (root / "run").exists()

    for command in ("status", "stop"):
        done = stack(root, command, DOCKER_HOST=no_engine)
        assert done.returncode == 0, done.stderr
    assert "nothing is running" in stack(root, "status", DOCKER_HOST=no_engine).stdout
    assert "nothing was running" in stack(root, "stop", DOCKER_HOST=no_engine).stdout
