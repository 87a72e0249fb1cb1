"""Which batching parameters to try, in what order, within a time budget: the search of
`loadtest tune-batching`, pure so it is tested without load.

It follows TF Serving's batching guide ("Performance tuning", CPU-only): start from
num_batch_threads = cores, a really high max_batch_size, batch_timeout_micros 0 and a really high
max_enqueued_batches while experimenting; then try timeouts of 1-10 ms (0 may stay best). The
search then varies one parameter at a time around the best so far (coordinate descent):
timeout, max_batch_size, num_batch_threads, and last max_enqueued_batches, where the guide's
online-serving value (equal to num_batch_threads) bounds queueing delay.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

PARAMS = ("max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches")
HIGH_QUEUE = 1_000_000  # "a really high value" while experimenting
HIGH_BATCH = 1024
# Starting a server with a new batching file, before the first probe, for time estimates (measured
# values replace it once the first server has started).
SERVER_START_ESTIMATE_S = 15.0
MIN_PROBES = 3  # a capacity search needs at least a pass, a fail and one bisection

Params = dict[str, int]


def guide_start(cores: int) -> Params:
    return {"max_batch_size": HIGH_BATCH, "batch_timeout_micros": 0, "num_batch_threads": cores,
            "max_enqueued_batches": HIGH_QUEUE}


def values(param: str, best: Params, cores: int) -> tuple[int, ...]:
    """The values of `param` a stage tries around `best`."""
    if param == "batch_timeout_micros":
        return (0, 1000, 2000, 5000, 10000)
    if param == "max_batch_size":
        return (16, 64, 256, HIGH_BATCH)
    if param == "num_batch_threads":
        return tuple(sorted({1, cores, 2 * cores}))
    return (best["num_batch_threads"], HIGH_QUEUE)  # max_enqueued_batches: online value, experimenting value


def candidates(baseline: Params, cores: int, best: Callable[[], Params]) -> Iterator[Params]:
    """Candidates in the order to try: the template's baseline, the guide's start, then each
    stage around `best()` (read when the stage's candidates are made), without repeats."""
    seen: set[tuple[int, ...]] = set()

    def new(params: Params) -> bool:
        key = tuple(params[p] for p in PARAMS)
        if key in seen:
            return False
        seen.add(key)
        return True

    for fixed in (baseline, guide_start(cores)):
        if new(fixed):
            yield dict(fixed)
    for param in ("batch_timeout_micros", "max_batch_size", "num_batch_threads", "max_enqueued_batches"):
        for value in values(param, best(), cores):
            candidate = {**best(), param: value}
            if new(candidate):
                yield candidate


def recommendation(best: Params, baseline: Params) -> Params:
    """What to deploy: the best measured, but never the guide's experimenting queue bound (unbounded
    queueing hides overload behind latency); the baseline's bound replaces it."""
    if best["max_enqueued_batches"] == HIGH_QUEUE:
        return {**best, "max_enqueued_batches": baseline["max_enqueued_batches"]}
    return best


def candidate_seconds(probe_seconds: float, probes: int, server_start_s: float = SERVER_START_ESTIMATE_S,
                      probe_overhead_s: float = 4.0) -> float:
    """Wall time of one candidate: its server's start and `probes` probes."""
    return server_start_s + probes * (probe_seconds + probe_overhead_s)


def check_budget(budget_s: float, probe_seconds: float) -> None:
    """ValueError before any load when the budget cannot hold one candidate."""
    need = candidate_seconds(probe_seconds, MIN_PROBES)
    if budget_s < need:
        raise ValueError(f"a budget of {budget_s:g} s is too short for one candidate: starting a server and "
                         f"{MIN_PROBES} probes of {probe_seconds:g} s take about {need:.0f} s; give --budget "
                         f"{need:.0f} or more, or shorter --probe-seconds")


def params_of(message: Any) -> Params:
    """The four tuned fields of a BatchingParameters message (TF Serving's defaults where unset)."""
    defaults = {"max_batch_size": 1000, "batch_timeout_micros": 0, "num_batch_threads": 1, "max_enqueued_batches": 10}
    return {p: getattr(message, p).value if message.HasField(p) else defaults[p] for p in PARAMS}


def to_message(params: Params, message_class: Any) -> Any:
    message = message_class()
    for name, value in params.items():
        getattr(message, name).value = value
    return message


def rewrite_values(text: str, params: Params) -> str:
    """`text` (a commented batching.conf) with each tuned field's value replaced in place, so its
    comments stay; a field it lacks is appended."""
    for name, value in params.items():
        pattern = re.compile(r"^(\s*" + name + r"\s*\{\s*value\s*:\s*)-?\d+(\s*\})", re.MULTILINE)
        text, found = pattern.subn(rf"\g<1>{value}\g<2>", text)
        if not found:
            text = text.rstrip("\n") + "\n" + name + " { value: " + str(value) + " }\n"
    return text
