"""Locust run beside a driver that changes the server (publishes versions, moves labels, replaces
replicas): the driver starts once Locust sends, and the run ends when the driver is done."""

from __future__ import annotations

import threading

from . import locust_run
from .report import say


class Driver(threading.Thread):
    """What a scenario does to the server while Locust runs (`steps`): `done` once the steps are
    over or failed (`error` says why), `cancel` set when the run ends first."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.error: str | None = None
        self.done = threading.Event()
        self.cancel = threading.Event()

    def run(self) -> None:
        try:
            self.steps()
        except Exception as error:  # reported in the summary; the load still stops cleanly
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.done.set()

    def steps(self) -> None:
        raise NotImplementedError


def run_alongside(spec: locust_run.LocustRun, driver: Driver, finish_seconds: float) -> tuple[locust_run.LocustResult, bool]:
    """Locust runs `spec` until the driver is done; (its result, whether Ctrl-C ended it). The driver
    starts once Locust sends; when the run ends first, it is cancelled and given `finish_seconds` to
    finish the step it is in, so that no step is left half done."""
    timer = threading.Timer(3.0, driver.start)
    timer.start()
    interrupted = False
    try:
        result = locust_run.run(spec, progress=say, stop_when=driver.done.is_set)
    except locust_run.Interrupted as stop:
        result, interrupted = stop.result, True
    finally:
        timer.cancel()
        driver.cancel.set()
        if driver.is_alive():
            driver.join(timeout=finish_seconds)
    return result, interrupted
