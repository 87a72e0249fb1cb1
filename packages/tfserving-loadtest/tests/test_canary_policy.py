"""The canary's rule and the model config edits it makes: no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tfserving_loadtest import model_config
from tfserving_loadtest.canary_policy import CANARY, PROMOTE, ROLLBACK, STABLE, Arm, Thresholds, decide
from tfserving_loadtest.errors import ConfigError

from .conftest import config_text

THRESHOLDS = Thresholds(max_error_increase=0.001, max_p99_ratio=1.2, p99_slack_ms=5, min_requests=200)


def arms(stable: tuple[float, float, float | None], canary: tuple[float, float, float | None]) -> tuple[Arm, Arm]:
    return Arm(STABLE, *stable), Arm(CANARY, *canary)


def test_a_canary_as_good_as_stable_is_promoted() -> None:
    decision = decide(*arms((1000, 0, 20.0), (250, 0, 23.0)), THRESHOLDS)
    assert (decision.action, decision.decided) == (PROMOTE, True)


def test_a_canary_slower_than_the_threshold_is_rolled_back() -> None:
    # limit = 20 x 1.2 + 5 = 29 ms
    assert decide(*arms((1000, 0, 20.0), (250, 0, 29.0)), THRESHOLDS).action == PROMOTE
    decision = decide(*arms((1000, 0, 20.0), (250, 0, 29.5)), THRESHOLDS)
    assert decision.action == ROLLBACK and decision.decided
    assert "p99 29.5 ms is above 29.0 ms" in decision.reasons[0]


def test_a_canary_that_errors_more_than_stable_is_rolled_back() -> None:
    # stable 0.2 % errors: the canary may have up to 0.3 %
    assert decide(*arms((1000, 2, 20.0), (1000, 3, 20.0)), THRESHOLDS).action == PROMOTE
    decision = decide(*arms((1000, 2, 20.0), (1000, 4, 20.0)), THRESHOLDS)
    assert decision.action == ROLLBACK and "error ratio 0.0040" in decision.reasons[0]


def test_a_canary_whose_every_request_failed_is_rolled_back_on_both_counts() -> None:
    decision = decide(*arms((1000, 0, 20.0), (250, 250, None)), THRESHOLDS)
    assert decision.action == ROLLBACK
    assert any("error ratio 1.0000" in r for r in decision.reasons)
    assert any("no canary request succeeded" in r for r in decision.reasons)


@pytest.mark.parametrize("counts", [(1000, 199), (150, 1000)])
def test_too_little_traffic_on_either_label_is_no_judgement_and_rolls_back(counts: tuple[int, int]) -> None:
    decision = decide(*arms((counts[0], 0, 20.0), (counts[1], 0, 20.0)), THRESHOLDS)
    assert (decision.action, decision.decided) == (ROLLBACK, False)
    assert "at least 200 needed" in decision.reasons[0]


# --- models.config ---------------------------------------------------------------------------------

@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.config"
    path.write_text(config_text("m", "/models/m"))
    return path


def model() -> str:
    return "m"


def test_pinning_sets_exactly_the_versions_and_labels(config_file: Path) -> None:
    config = model_config.read(config_file)
    assert model_config.pinned_versions(config, model()) is None  # latest two
    pinned = model_config.pinned(config, model(), [4, 3, 4], {STABLE: 3, CANARY: 4})
    assert model_config.pinned_versions(pinned, model()) == [3, 4]
    assert model_config.labels(pinned, model()) == {STABLE: 3, CANARY: 4}
    again = model_config.pinned(pinned, model(), [4], {STABLE: 4})
    assert model_config.labels(again, model()) == {STABLE: 4}  # labels replaced, not merged
    assert model_config.pinned_versions(config, model()) is None  # the original is not changed


def test_a_written_config_reads_back_in_place(config_file: Path) -> None:
    """The same inode: compose bind-mounts this one file into the container."""
    inode = config_file.stat().st_ino
    pinned = model_config.pinned(model_config.read(config_file), model(), [2], {STABLE: 2})
    model_config.write(config_file, pinned, "a note\non two lines")
    assert config_file.stat().st_ino == inode
    assert config_file.read_text().startswith("# a note\n# on two lines\n")
    assert model_config.read(config_file) == pinned
    shorter = model_config.pinned(pinned, model(), [2], {})
    model_config.write(config_file, shorter, "x")
    assert model_config.read(config_file) == shorter  # nothing of the longer text is left behind


def test_an_unknown_model_or_a_broken_file_is_a_clear_error(config_file: Path) -> None:
    with pytest.raises(ConfigError, match="'nope' is not in the model config"):
        model_config.labels(model_config.read(config_file), "nope")
    config_file.write_text("model_config_list { config { name: ")
    with pytest.raises(ConfigError, match="cannot use the model config"):
        model_config.read(config_file)



def test_unpinned_serves_the_newest_versions_with_no_labels(config_file: Path) -> None:
    pinned = model_config.pinned(model_config.read(config_file), model(), [1, 2], {STABLE: 2})
    served = model_config.unpinned(pinned, model())
    assert model_config.pinned_versions(served, model()) is None and model_config.labels(served, model()) == {}
    assert model_config.model_entry(served, model()).model_version_policy.latest.num_versions == 2
