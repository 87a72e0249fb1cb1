"""Open-loop scheduling, the capacity search and the batching tuner's plan, without any load:
rates, splits across users and workers, missed sends, bisection, budgets."""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Callable

import pytest
from embedded_tfserving.config import parse_batching_parameters

from tfserving_loadtest import arrivals, batching_search, capacity_search
from tfserving_loadtest.arrivals import RateSpec, Schedule, Tally


def due_times(schedule: Schedule, until: float) -> list[float]:
    times = []
    while (due := schedule.take()) < until:
        times.append(due)
    return times


# --- rates and their split ----------------------------------------------------------------------

def test_rate_follows_the_shape():
    assert arrivals.rate_at(RateSpec(100), 55) == 100
    step = RateSpec(100, kind="step", step_rate=25, step_seconds=10)
    assert [arrivals.rate_at(step, t) for t in (0, 9.9, 10, 25, 35, 99)] == [25, 25, 50, 75, 100, 100]
    spike = RateSpec(100, kind="spike", run_time=30, spike_seconds=5)
    assert [arrivals.rate_at(spike, t) for t in (9.9, 10, 14.9, 15)] == [100, 300, 300, 100]
    with pytest.raises(ValueError, match="above 0"):
        RateSpec(0)


def test_workers_shares_add_up_to_the_total_with_uneven_users():
    # Locust spreads 10 users over 3 workers as 4, 3, 3.
    shares = [arrivals.process_share(300, users, 10) for users in (4, 3, 3)]
    assert shares == [120, 90, 90] and sum(shares) == 300
    assert arrivals.process_share(300, 0, 10) == 0 and arrivals.process_share(300, 5, 0) == 0


def test_poisson_arrivals_have_the_target_rate_and_exponential_gaps():
    times = due_times(Schedule(lambda _: 200.0, "poisson", 0.0, random.Random(1)), until=100.0)
    assert len(times) == pytest.approx(20_000, rel=0.03)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # an exponential distribution's standard deviation equals its mean
    assert statistics.stdev(gaps) == pytest.approx(statistics.mean(gaps), rel=0.05)


def test_uniform_arrivals_are_evenly_spaced_after_a_random_phase():
    times = due_times(Schedule(lambda _: 50.0, "uniform", 10.0, random.Random(2)), until=20.0)
    assert 10.0 <= times[0] < 10.02
    assert all(b - a == pytest.approx(0.02) for a, b in itertools.pairwise(times))
    assert len(times) == 500


def test_processes_with_their_shares_send_the_total_rate():
    total_users, users = 10, (4, 3, 3)
    def share(local: int) -> Callable[[float], float]:
        return lambda _: arrivals.process_share(250, local, total_users)

    merged = sorted(t for i, local in enumerate(users)
                    for t in due_times(Schedule(share(local), "poisson", 0.0, random.Random(i)), until=40.0))
    assert len(merged) == pytest.approx(250 * 40, rel=0.03)


def test_a_stepped_rate_changes_the_arrivals_per_step():
    spec = RateSpec(400, kind="step", step_rate=100, step_seconds=10)
    times = due_times(Schedule(lambda t: arrivals.rate_at(spec, t), "uniform", 0.0, random.Random(3)), until=40.0)
    per_step = [sum(1 for t in times if 10 * k <= t < 10 * (k + 1)) for k in range(4)]
    assert per_step == [pytest.approx(r * 10, abs=2) for r in (100, 200, 300, 400)]


# --- missed sends ---------------------------------------------------------------------------------

def test_sends_are_counted_on_time_late_with_a_free_user_or_late_with_every_user_busy():
    tally = Tally()
    tally.record(due=1.000, taken=0.990, started=1.001)  # on time
    tally.record(due=2.000, taken=1.990, started=2.030)  # a free user woke late: the generator's lag
    tally.record(due=3.000, taken=3.200, started=3.200)  # nobody free until 3.2 s
    assert (tally.sent, tally.late, tally.late_no_free_user, tally.generator_late) == (3, 2, 1, 1)
    assert tally.max_lag_ms == 200.0


def test_due_times_never_taken_before_the_end_are_unsent():
    schedule = Schedule(lambda _: 10.0, "uniform", 0.0, random.Random(4))
    taken = [schedule.take() for _ in range(3)]
    tally = Tally()
    for due in taken:
        tally.record(due, due, due)
    tally.unsent += schedule.skip_until(1.0)  # every user busy for the rest of the first second
    assert tally.sent + tally.unsent == 10 and tally.missed == 7


def test_workers_tallies_merge():
    merged = Tally.merge([Tally(10, 2, 1, 0, 12.5, answered=9).as_dict(), Tally(5, 1, 1, 3, 40.0, answered=5).as_dict()])
    assert (merged.sent, merged.late, merged.late_no_free_user, merged.unsent, merged.max_lag_ms) == (15, 3, 2, 3, 40.0)
    assert merged.answered == 14


def test_a_rate_not_kept_says_why():
    busy = arrivals.summary(Tally(sent=900, late=90, late_no_free_user=80, unsent=100), 100, 90, users=8)
    assert busy["rate_kept"] is False and busy["missed_sends"] == 190 and busy["missed_send_rate"] == 0.19
    assert "all 8 users were busy" in busy["rate_warning"]
    lagging = arrivals.summary(Tally(sent=1000, late=50), 100, 99, users=8)
    assert "fell behind its own schedule" in lagging["rate_warning"]
    kept = arrivals.summary(Tally(sent=1000, late=5), 100, 99, users=8)
    assert kept["rate_kept"] is True and kept["rate_warning"] is None


def test_impossible_rates_are_refused():
    assert arrivals.users_for(1000, 0.05) == 102 and arrivals.users_for(1, 0.01) == 4
    with pytest.raises(ValueError, match=r"cannot send 1000 requests/s: .* at most 400 per second; use --users 12"):
        arrivals.check_feasible(1000, users=2, processes=1, floor_ms=5.0)
    with pytest.raises(ValueError, match="per Locust process"):
        arrivals.check_feasible(100_000, users=10_000, processes=2, floor_ms=None)
    arrivals.check_feasible(300, users=2, processes=1, floor_ms=5.0)


# --- the capacity search ----------------------------------------------------------------------------

def server_with_capacity(limit: float, calls: list[float]):
    """A fake probe: p99 5 ms up to `limit` requests/s, then 500 ms."""
    def probe(rate: float) -> dict:
        calls.append(rate)
        return {"requests": int(rate * 10), "failures": 0, "p99_ms": 5 if rate <= limit else 500, "rps": rate}
    return probe


def test_the_search_doubles_then_bisects_to_the_precision():
    calls: list[float] = []
    found = capacity_search.search(server_with_capacity(333, calls), capacity_search.SearchSpec(start_rate=50, precision=0.1),
                            capacity_search.Objective(slo_ms=50))
    assert calls[:4] == [50, 100, 200, 400]  # doubling until 400 misses
    assert found.passed is not None and found.failed is not None
    assert found.passed <= 333 < found.failed and (found.failed - found.passed) / found.passed <= 0.1
    assert found.summary()["capacity_rps"] == found.passed and len(found.probes) == len(calls)


def test_a_start_that_misses_halves_down_and_every_rate_passing_stops_at_the_maximum():
    calls: list[float] = []
    low = capacity_search.search(server_with_capacity(30, calls), capacity_search.SearchSpec(start_rate=200),
                                 capacity_search.Objective(50))
    assert calls[:4] == [200, 100, 50, 25] and low.passed is not None and low.passed <= 30
    high = capacity_search.search(server_with_capacity(10**6, []),
                                  capacity_search.SearchSpec(start_rate=100, max_rate=700), capacity_search.Objective(50))
    assert high.passed == 700 and high.failed is None and "at least 700" in high.summary()["note"]


def test_the_search_stops_after_max_probes_and_counts_errors_against_the_objective():
    calls: list[float] = []
    capacity_search.search(server_with_capacity(10**6, calls), capacity_search.SearchSpec(start_rate=1, max_probes=4),
                    capacity_search.Objective(50))
    assert calls == [1, 2, 4, 8]
    objective = capacity_search.Objective(slo_ms=50, max_error_rate=0.01)
    assert objective.check({"requests": 1000, "failures": 20, "p99_ms": 5})[0] is False
    assert objective.check({"requests": 1000, "failures": 10, "p99_ms": 50}) == (True, "within the objective")
    assert objective.check({"requests": 0, "failures": 0, "p99_ms": None})[0] is False


def test_a_failure_from_the_generators_lag_is_reported_as_a_lower_bound():
    rows: dict[float, dict[str, float]] = {100: {"p99_ms": 5}, 200: {"p99_ms": 90, "generator_late_rate": 0.2}}
    found = capacity_search.search(lambda rate: {"requests": 100, "failures": 0, **rows.get(rate, {"p99_ms": 90})},
                            capacity_search.SearchSpec(start_rate=100, precision=1.0), capacity_search.Objective(50))
    assert found.generator_limited and "fell behind its schedule at 200" in found.summary()["note"]


# --- the batching tuner's plan --------------------------------------------------------------------------

def test_candidates_start_from_the_template_then_the_guide_then_vary_one_parameter_around_the_best():
    baseline = {"max_batch_size": 64, "batch_timeout_micros": 2000, "num_batch_threads": 2, "max_enqueued_batches": 100}
    best = dict(baseline)
    plan = batching_search.candidates(baseline, cores=2, best=lambda: best)
    assert next(plan) == baseline
    start = next(plan)
    assert start == {"max_batch_size": 1024, "batch_timeout_micros": 0, "num_batch_threads": 2,
                     "max_enqueued_batches": 1_000_000}
    best.update(start)  # the guide's start won: the timeout stage varies around it
    timeouts = [next(plan) for _ in range(4)]
    assert [c["batch_timeout_micros"] for c in timeouts] == [1000, 2000, 5000, 10000]
    assert all(c["max_batch_size"] == 1024 for c in timeouts)
    best.update(timeouts[1])
    rest = list(plan)
    assert [c["max_batch_size"] for c in rest[:3]] == [16, 64, 256]  # 1024 at 2000 µs was tried already
    assert all(c["batch_timeout_micros"] == 2000 for c in rest)
    assert [c["num_batch_threads"] for c in rest[3:5]] == [1, 4]
    assert rest[-1]["max_enqueued_batches"] == 2  # the guide's online value: num_batch_threads
    keys = [tuple(c.values()) for c in [baseline, start, *timeouts, *rest]]
    assert len(keys) == len(set(keys))


def test_the_recommendation_never_keeps_the_guides_unbounded_queue():
    baseline = {"max_batch_size": 64, "batch_timeout_micros": 2000, "num_batch_threads": 2, "max_enqueued_batches": 100}
    best = {**batching_search.guide_start(2), "batch_timeout_micros": 1000}
    assert batching_search.recommendation(best, baseline) == {**best, "max_enqueued_batches": 100}
    assert batching_search.recommendation(baseline, baseline) == baseline


def test_a_budget_too_short_for_one_candidate_is_refused():
    with pytest.raises(ValueError, match=r"too short for one candidate.*give --budget 42"):
        batching_search.check_budget(30, probe_seconds=5)
    batching_search.check_budget(42, probe_seconds=5)


COMMENTED_BATCHING = """# Batching for the online path.
max_batch_size { value: 64 }
# 2 ms: the latency budget's share for waiting.
batch_timeout_micros { value: 2000 }
num_batch_threads { value: 2 }
max_enqueued_batches { value: 100 }
"""


def test_the_best_values_are_written_into_the_commented_file_and_read_back_by_the_parser():
    text = COMMENTED_BATCHING
    best = {"max_batch_size": 256, "batch_timeout_micros": 5000, "num_batch_threads": 4, "max_enqueued_batches": 4}
    updated = batching_search.rewrite_values(text, best)
    assert batching_search.params_of(parse_batching_parameters(updated)) == best
    comments = [line for line in text.splitlines() if line.startswith("#")]
    assert comments and comments == [line for line in updated.splitlines() if line.startswith("#")]
    assert batching_search.rewrite_values("max_batch_size { value: 8 }\n", {"num_batch_threads": 3}).endswith(
        "num_batch_threads { value: 3 }\n")
