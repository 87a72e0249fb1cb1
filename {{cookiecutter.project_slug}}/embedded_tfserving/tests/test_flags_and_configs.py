"""tensorflow_model_server's flags and config files: what is accepted, and what fails loudly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from embedded_tfserving.config import parse_batching_parameters, parse_monitoring_config
from embedded_tfserving.errors import ConfigError, FlagError
from embedded_tfserving.flags import map_base_path, parse_flags
from embedded_tfserving.process import PACKAGE_PARENT


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
