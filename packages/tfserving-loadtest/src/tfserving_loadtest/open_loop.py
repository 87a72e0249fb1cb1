"""The open-loop users' side in Locust: one arrival schedule and one tally per process.

The locustfile's rate users call `next_due()` before each send and measure latency with
`since(due)`; the maths is in arrivals.py. The rate is split over all the users of a run, so run
the rate users on their own (name them on Locust's command line). A master adds up its workers' tallies, which they send
with their statistics, and writes the total into the run-info file (hooks.write_files).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from .arrivals import RateSpec, Schedule, Tally, process_share, rate_at

logger = logging.getLogger(__name__)

_environment: Any = None
_schedule: Schedule | None = None
_tally = Tally()
_worker_tallies: dict[str, dict[str, float]] = {}  # in a master: each worker's latest (cumulative) tally


def enabled(options: Any) -> bool:
    return bool(options is not None and getattr(options, "arrival_rate", 0))


def rate_spec(options: Any) -> RateSpec:
    return RateSpec(rate=options.arrival_rate, kind=options.shape, run_time=options.run_time or None,
                    step_rate=options.step_rate, step_seconds=options.step_seconds,
                    spike_rate=options.spike_rate, spike_seconds=options.spike_seconds)


def _users() -> tuple[int, int]:
    """(users in this process, users in the whole run)."""
    runner, options = _environment.runner, _environment.parsed_options
    local = runner.user_count
    # Workers forked by --processes share the master's -u; workers started on their own do not
    # receive it (Locust sends workers only custom options), so they count on even spreading.
    total = options.num_users or local * max(1, getattr(options, "expect_workers", 1) or 1)
    return local, total


def next_due() -> float:
    """Waits until this process's next due time and returns it (time.perf_counter's clock).
    Without --arrival-rate (the web UI runs every user class) there is no schedule: now."""
    global _schedule
    if not enabled(_environment.parsed_options):
        return time.perf_counter()
    if _schedule is None:
        spec = rate_spec(_environment.parsed_options)
        _schedule = Schedule(lambda elapsed: process_share(rate_at(spec, elapsed), *_users()),
                             _environment.parsed_options.arrivals, time.perf_counter())
    taken = time.perf_counter()
    due = _schedule.take()
    if due > taken:
        gevent.sleep(due - taken)
    _tally.record(due=due, taken=taken, started=time.perf_counter())
    return due


def since(due: float) -> float:
    """Milliseconds from a due time to now: the latency an open-loop request reports."""
    return (time.perf_counter() - due) * 1000


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    global _environment
    _environment = environment


@events.test_start.add_listener
def _on_start(**_: Any) -> None:
    global _schedule, _tally
    _schedule, _tally = None, Tally()


@events.test_stop.add_listener
def _on_stop(**_: Any) -> None:
    if _schedule is not None:  # due times that passed with every user busy, never sent
        _tally.unsent += _schedule.skip_until(time.perf_counter())


@events.request.add_listener
def _on_request(**_: Any) -> None:
    # Counted in the same event as Locust's statistics, and shipped in the same report: a request
    # still in flight when the run stops its users is in `sent` and in neither of these.
    if enabled(_environment.parsed_options if _environment else None):
        _tally.answered += 1


@events.report_to_master.add_listener
def _ship(data: dict, **_: Any) -> None:
    data["loadtest_arrivals"] = _tally.as_dict()


@events.worker_report.add_listener
def _receive(client_id: str, data: dict, **_: Any) -> None:
    if "loadtest_arrivals" in data:
        _worker_tallies[client_id] = data["loadtest_arrivals"]


def run_info() -> dict[str, Any] | None:
    """What the run-info file records of an open-loop run (None for a closed-loop one)."""
    if not enabled(_environment.parsed_options if _environment else None):
        return None
    runner = _environment.runner
    if isinstance(runner, WorkerRunner):
        return None
    tally = Tally.merge(_worker_tallies.values()) if isinstance(runner, MasterRunner) else _tally
    options = _environment.parsed_options
    return {"target_rps": options.arrival_rate, "arrivals": options.arrivals, "shape": options.shape,
            "tally": tally.as_dict()}
