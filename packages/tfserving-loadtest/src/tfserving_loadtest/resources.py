"""CPU and GPU use during a measurement: the server's (psutil, NVML) and the load generator's."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil

LOCUST_CPU_LIMIT = 90.0  # percent of one core: past it the generator, not the server, limits load


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system + times.children_user + times.children_system


class CpuMeter:
    """CPU seconds a process (and its threads) used between start() and stop()."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.cpu_seconds = 0.0
        self.wall_seconds = 0.0

    def start(self) -> CpuMeter:
        self._cpu, self._wall = _cpu_seconds(self.process), time.monotonic()
        return self

    def stop(self) -> CpuMeter:
        try:
            self.cpu_seconds = _cpu_seconds(self.process) - self._cpu
        except psutil.Error:
            self.cpu_seconds = float("nan")
        self.wall_seconds = time.monotonic() - self._wall
        return self

    @property
    def utilisation(self) -> float:
        """Cores busy on average: 1.0 = one core fully used."""
        return self.cpu_seconds / self.wall_seconds if self.wall_seconds else float("nan")


class TreeCpuSampler(threading.Thread):
    """Peak CPU percent of any process in a tree (Locust's master and its workers)."""

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak = 0.0
        self._halt = threading.Event()
        self._seen: dict[int, psutil.Process] = {}

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                root = psutil.Process(self.pid)
                for process in [root, *root.children(recursive=True)]:
                    known = self._seen.setdefault(process.pid, process)
                    self.peak = max(self.peak, known.cpu_percent(None))
            except psutil.Error:
                pass

    def stop(self) -> float:
        self._halt.set()
        return self.peak


@dataclass
class GpuReading:
    name: str
    utilisation: float  # percent, mean over the samples


class GpuSampler(threading.Thread):
    """Mean NVML GPU utilisation while running; `available` is False without an NVIDIA GPU."""

    def __init__(self, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.samples: list[float] = []
        self._halt = threading.Event()
        self.name = "no GPU"
        try:
            import pynvml

            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.name = str(pynvml.nvmlDeviceGetName(self._handle))
            self.available = True
        except Exception:  # no driver, no device, or no pynvml: all mean "no GPU" here
            self.available = False

    def run(self) -> None:
        import pynvml

        while self.available and not self._halt.wait(self.interval):
            self.samples.append(float(pynvml.nvmlDeviceGetUtilizationRates(self._handle).gpu))

    def stop(self) -> GpuReading | None:
        self._halt.set()
        if not self.available:
            return None
        return GpuReading(self.name, sum(self.samples) / len(self.samples) if self.samples else 0.0)
