"""Load shapes: steady, step ramp and spike, chosen with Locust's --shape option.

`plan` is a pure function of the elapsed time, so the shapes are easy to read and to test; the
locustfile's LoadShape feeds it Locust's options (-u, -r, -t and the --step-*/--spike-* options).
No Locust import here: importing Locust monkey-patches the standard library (gevent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KINDS = ("steady", "step", "spike")


@dataclass(frozen=True)
class ShapeSpec:
    kind: str = "steady"
    users: int = 1
    spawn_rate: float = 1.0
    run_time: float | None = None  # seconds; None runs until stopped (web UI)
    step_users: int = 10
    step_seconds: float = 10.0
    spike_users: int = 50
    spike_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown load shape {self.kind!r}: choose one of {', '.join(KINDS)}")
        if self.users < 1 or self.step_users < 1 or self.spike_users < 1:
            raise ValueError("user counts of a load shape must be at least 1")


def plan(spec: ShapeSpec, elapsed: float) -> tuple[int, float] | None:
    """(users, spawn rate) at `elapsed` seconds into the run, or None when the run is over."""
    if spec.run_time is not None and elapsed >= spec.run_time:
        return None
    if spec.kind == "step":
        step = int(elapsed // spec.step_seconds) + 1
        return min(spec.users, step * spec.step_users), spec.spawn_rate
    if spec.kind == "spike":
        # The spike sits a third into the run, so there is steady traffic before and after it.
        start = spec.run_time / 3 if spec.run_time else spec.step_seconds
        if start <= elapsed < start + spec.spike_seconds:
            return spec.spike_users, max(spec.spawn_rate, float(spec.spike_users))
    return spec.users, spec.spawn_rate


def spec_from_options(options: Any) -> ShapeSpec:
    return ShapeSpec(
        kind=options.shape,
        users=options.num_users or 1,
        spawn_rate=options.spawn_rate or 1.0,
        run_time=options.run_time or None,
        step_users=options.step_users,
        step_seconds=options.step_seconds,
        spike_users=options.spike_users,
        spike_seconds=options.spike_seconds,
    )
