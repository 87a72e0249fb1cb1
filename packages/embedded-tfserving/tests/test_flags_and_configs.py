"""tensorflow_model_server's flags and config files: what is accepted, and what fails loudly."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import psutil
import pytest

from embedded_tfserving.config import parse_batching_parameters, parse_monitoring_config
from embedded_tfserving.errors import ConfigError, FlagError
from embedded_tfserving.flags import map_base_path, parse_flags, session_threads
from embedded_tfserving.process import PACKAGE_PARENT, ServerProcess
from embedded_tfserving.testing import place_version


def test_defaults_are_tf_servings() -> None:
    flags = parse_flags(["--model_base_path=/models/m"])
    assert (flags.port, flags.rest_api_port, flags.model_name) == (8500, 0, "default")
    assert flags.enable_model_warmup and not flags.enable_batching
    assert (flags.file_system_poll_wait_seconds, flags.rest_api_timeout_in_ms) == (1, 30000)


def test_boolean_syntax() -> None:
    assert parse_flags(["--model_base_path=/m", "--enable_batching"]).enable_batching
    assert not parse_flags(["--model_base_path=/m", "--enable_model_warmup=false"]).enable_model_warmup


@pytest.mark.parametrize(("argv", "named"), [
    (["--model_base_path=/m", "--no_such_flag=1"], "--no_such_flag"),
    (["--model_base_path=/m", "--platform_config_file=x"], "--platform_config_file"),  # unsupported
    (["--model_base_path=/m", "--ssl_config_file=/no/such/file"], "--ssl_config_file"),  # missing file
    (["--model_base_path=/m", "--batching_parameters_file=b.conf"], "--batching_parameters_file"),
    (["--model_base_path=/m", "--port=abc"], "--port"),
    (["--model_base_pat=/m"], "--model_base_pat"),  # no abbreviations
])
def test_bad_flags_are_rejected_by_name(argv: list[str], named: str) -> None:
    with pytest.raises(FlagError, match=named):
        parse_flags(argv)


def test_the_server_exits_non_zero_on_an_unknown_flag() -> None:
    result = subprocess.run([sys.executable, "-m", "embedded_tfserving", "--model_base_path=/m", "--bogus=1"],
                            cwd=PACKAGE_PARENT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--bogus" in result.stderr


@pytest.mark.parametrize(("intra", "inter", "session", "threads"), [
    (0, 0, 0, (0, 0)),  # TensorFlow picks: one thread per core
    (0, 0, 3, (3, 3)),  # --tensorflow_session_parallelism sets both
    (2, 0, 4, (2, 0)),  # either specific flag wins, and the other stays auto (server.cc)
    (0, 5, 4, (0, 5)),
])
def test_session_threads_follow_tf_servings_rules(intra: int, inter: int, session: int, threads: tuple[int, int]) -> None:
    flags = parse_flags(["--model_base_path=/m", f"--tensorflow_intra_op_parallelism={intra}",
                         f"--tensorflow_inter_op_parallelism={inter}", f"--tensorflow_session_parallelism={session}"])
    assert session_threads(flags) == threads


def test_all_three_thread_flags_are_refused_as_tf_serving_refuses_them() -> None:
    with pytest.raises(FlagError, match=r"^Either configure server_options.tensorflow_session_parallelism or "):
        parse_flags(["--model_base_path=/m", "--tensorflow_intra_op_parallelism=1",
                     "--tensorflow_inter_op_parallelism=1", "--tensorflow_session_parallelism=1"])


def test_the_session_runs_ops_on_as_many_threads_as_the_flags_say(tf1_model: Path, tmp_path: Path) -> None:
    # TensorFlow names its inter-op threads tf_Compute; its default is one per core, so one more is the flag's.
    wanted = (os.cpu_count() or 1) + 1
    place_version(tf1_model, tmp_path / "hp2", 1)
    flags = ["--model_name=hp2", f"--model_base_path={tmp_path / 'hp2'}", f"--tensorflow_session_parallelism={wanted}"]
    with ServerProcess(flags, tmp_path / "server.log") as server:
        server.start()
        assert server.pid is not None
        names = Counter(psutil.Process(thread.id).name() for thread in psutil.Process(server.pid).threads())
    assert names["tf_Compute"] == wanted, names


def test_base_path_map_uses_the_longest_prefix() -> None:
    mappings = [("/models", "local"), ("/models/special", "elsewhere")]
    assert str(map_base_path("/models/ctr", mappings)) == "local/ctr"
    assert str(map_base_path("/models/special/x", mappings)) == "elsewhere/x"
    assert str(map_base_path("/other/x", mappings)) == "/other/x"


def test_batching_parameters_validation() -> None:
    params = parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 2 allowed_batch_sizes: 8")
    assert list(params.allowed_batch_sizes) == [2, 8]
    with pytest.raises(ConfigError, match="must match max_batch_size"):
        parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 4")
    with pytest.raises(ConfigError, match="monotonically increasing"):
        parse_batching_parameters("max_batch_size { value: 8 } allowed_batch_sizes: 8 allowed_batch_sizes: 8")
    parse_error = r"batching\.conf: Error parsing text-format tensorflow\.serving\.BatchingParameters: 2:1 "
    with pytest.raises(ConfigError, match=parse_error):
        parse_batching_parameters("max_batch_size { value: 8 }\nbogus: 1", "batching.conf")


def test_monitoring_config() -> None:
    config = parse_monitoring_config('prometheus_config { enable: true path: "/metrics" }')
    assert config.prometheus_config.enable and config.prometheus_config.path == "/metrics"
