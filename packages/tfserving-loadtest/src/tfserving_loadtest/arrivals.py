"""Open-loop load: when each request is due, and how many could not be sent on time.

Closed-loop users wait for a reply before they send again, so a stalled server is sent fewer
requests and its stall is under-reported (coordinated omission). Open loop draws the send times
from an arrival process at a fixed rate instead. Each Locust process draws its share of the rate
(its users' share of all users, so the split holds across workers); a free user takes the next
due time, sends then, and the latency is measured from the due time. When every user is busy at
a due time, the send goes out late and still counts from its due time (as wrk2 does); a send more
than `late_after` late is a missed send, and due times never sent before the run ended are too.

Pure: no Locust or gevent here, so the maths is tested without load.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

ARRIVALS = ("poisson", "uniform")
LATE_AFTER_S = 0.010  # a send this much after its due time is missed (a few gevent scheduling slips are not)
# Share of missed sends above which a run says its rate was not kept.
MISSED_LIMIT = 0.01
# One Locust process, however fast its core, sends far fewer: a rate above it is refused up front.
MAX_RATE_PER_PROCESS = 20_000.0


@dataclass(frozen=True)
class RateSpec:
    """The target rate over time: Locust's --shape applied to the rate instead of the users."""

    rate: float  # requests/s over all users and workers (the peak of step)
    kind: str = "steady"  # steady, step or spike
    run_time: float | None = None  # seconds; the spike sits a third into it
    step_rate: float = 0.0  # step: added every step_seconds (0: a fifth of the rate)
    step_seconds: float = 10.0
    spike_rate: float = 0.0  # spike: the rate during the spike (0: three times the rate)
    spike_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError(f"an arrival rate must be above 0 requests/s, not {self.rate:g}")


def rate_at(spec: RateSpec, elapsed: float) -> float:
    """The target rate (requests/s, all processes) `elapsed` seconds into the run."""
    if spec.kind == "step":
        step = spec.step_rate or spec.rate / 5
        return min(spec.rate, (int(elapsed // spec.step_seconds) + 1) * step)
    if spec.kind == "spike":
        start = spec.run_time / 3 if spec.run_time else spec.step_seconds
        if start <= elapsed < start + spec.spike_seconds:
            return spec.spike_rate or 3 * spec.rate
    return spec.rate


def process_share(total_rate: float, local_users: int, total_users: int) -> float:
    """This process's rate: its users' share of the total, so workers with uneven user counts
    (Locust spreads 10 users over 3 workers as 4, 3, 3) still add up to the total."""
    if total_users <= 0 or local_users <= 0:
        return 0.0
    return total_rate * min(local_users, total_users) / total_users


class Schedule:
    """Due times of one process's arrival process, handed out in order.

    `rate` is read at each arrival (it follows the shape and the running user count); poisson
    gaps are exponential, uniform gaps 1/rate after a random phase, so processes do not send in
    lockstep.
    """

    def __init__(self, rate: Callable[[float], float], arrivals: str, start: float,
                 rng: random.Random | None = None) -> None:
        if arrivals not in ARRIVALS:
            raise ValueError(f"unknown arrivals {arrivals!r}: choose one of {', '.join(ARRIVALS)}")
        self._rate, self._poisson, self._start = rate, arrivals == "poisson", start
        self._rng = rng or random.Random()
        first = self._gap(start)
        self._next = start + (first if self._poisson else self._rng.random() * first)

    def _gap(self, at: float) -> float:
        rate = self._rate(at - self._start)
        if rate <= 0:
            return 0.1  # no users yet: look again shortly
        return self._rng.expovariate(rate) if self._poisson else 1.0 / rate

    def take(self) -> float:
        """The next due time (on the clock `start` was read from)."""
        due = self._next
        self._next = due + self._gap(due)
        return due

    def skip_until(self, now: float) -> int:
        """Drops the due times before `now` that nobody took (the run is ending); returns how many."""
        dropped = 0
        while self._next < now:
            self.take()
            dropped += 1
        return dropped


@dataclass
class Tally:
    """One process's count of its sends; `merge` adds up the processes'."""

    sent: int = 0
    late: int = 0  # sent more than late_after after the due time
    late_no_free_user: int = 0  # of those: every user was busy at the due time
    unsent: int = 0  # due before the run ended, never sent
    max_lag_ms: float = 0.0
    # Of the sends, requests that ended (answered or failed) while the run lasted: the ones Locust
    # counts. The rest were still in flight when the run stopped its users.
    answered: int = 0

    def record(self, due: float, taken: float, started: float, late_after: float = LATE_AFTER_S) -> None:
        """A send: its due time, when a free user took it and when it went out (one clock)."""
        self.sent += 1
        lag = started - due
        self.max_lag_ms = max(self.max_lag_ms, round(lag * 1000, 1))
        if lag > late_after:
            self.late += 1
            if taken - due > late_after:  # nobody was free: the server (or too few users) held it
                self.late_no_free_user += 1

    @property
    def missed(self) -> int:
        return self.late + self.unsent

    @property
    def generator_late(self) -> int:
        """Late sends a free user took late: the generator's own lag (its CPU), not the server's."""
        return self.late - self.late_no_free_user

    @classmethod
    def merge(cls, tallies: Iterable[Mapping[str, float]]) -> Tally:
        total = cls()
        for tally in tallies:
            for field in fields(cls):
                value = tally.get(field.name, 0)
                if field.name == "max_lag_ms":
                    total.max_lag_ms = max(total.max_lag_ms, float(value))
                else:
                    setattr(total, field.name, getattr(total, field.name) + int(value))
        return total

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def summary(tally: Tally, target_rate: float, achieved_rate: float | None, users: int) -> dict[str, Any]:
    """The open-loop figures of a run's report, and a warning when the rate was not kept."""
    due = tally.sent + tally.unsent
    missed_rate = round(tally.missed / due, 4) if due else 0.0
    result: dict[str, Any] = {
        "target_rps": target_rate, "achieved_rps": achieved_rate, "missed_sends": tally.missed,
        "missed_send_rate": missed_rate, "late_sends": tally.late, "late_no_free_user": tally.late_no_free_user,
        "unsent": tally.unsent, "max_send_lag_ms": tally.max_lag_ms, "rate_kept": True, "rate_warning": None,
        "generator_late_rate": round(tally.generator_late / due, 4) if due else 0.0,
    }
    # Sends that were on time keep the arrival process's rate, so missed sends alone say whether the
    # rate was kept (Locust's achieved rate, over its own run time and a random Poisson count, is no test).
    if missed_rate > MISSED_LIMIT:
        if tally.late_no_free_user * 2 >= tally.late and tally.late:
            cause = (f"all {users} users were busy at the due times: the server answered too slowly for this rate "
                     "(if its latency is within your objective, raise --users)")
        else:
            cause = "the load generator fell behind its own schedule (its CPU): use --workers N or a lower rate"
        result["rate_kept"] = False
        result["rate_warning"] = (
            f"the generator could not keep {target_rate:g} requests/s: achieved "
            f"{'?' if achieved_rate is None else f'{achieved_rate:.0f}'} requests/s, {tally.missed} of {due} sends "
            f"missed their time by more than {LATE_AFTER_S * 1000:g} ms or were never sent; {cause}")
    return result


def users_for(rate: float, latency_s: float) -> int:
    """Users (requests in flight) that keep `rate` while requests take up to `latency_s`: twice
    Little's law's mean, so that a due time rarely finds every user busy unless the server is
    slower than that."""
    return max(4, math.ceil(2 * rate * latency_s) + 2)


def check_feasible(rate: float, users: int, processes: int, floor_ms: float | None) -> None:
    """ValueError before any load when `rate` cannot be sent: beyond what the processes can send,
    or beyond what `users` can have in flight when each request takes at least `floor_ms`."""
    if rate / processes > MAX_RATE_PER_PROCESS:
        raise ValueError(f"{rate:g} requests/s is {rate / processes:g} per Locust process, beyond the "
                         f"{MAX_RATE_PER_PROCESS:g} one process can send: lower the rate or use --workers N")
    if floor_ms:
        most = users * 1000 / floor_ms
        if rate > most:
            raise ValueError(
                f"{users} users cannot send {rate:g} requests/s: an unloaded request takes {floor_ms:.1f} ms here, "
                f"so {users} users send at most {most:.0f} per second; use --users {users_for(rate, floor_ms / 1000)} "
                "or more, or a lower rate")
