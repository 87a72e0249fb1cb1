"""The soak test: mixed REST + gRPC load from closed-loop clients on a server that polls the model's
base path, and periodic faults (a copy of the newest version published, a burst of malformed
requests). Reports, per interval, requests served, errors by kind, p99 and (given the server's
process) its memory, and writes soak.json. The versions it published are removed afterwards unless
`restore` is off (a throwaway copy).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import access, preflight, sources, versions
from ..closed_loop import Load, Recorder
from ..errors import LoadTestError
from ..stats import PERCENTILE_RULE

POOL = 64  # distinct requests per protocol


@dataclass
class SoakOptions:
    rest_url: str
    grpc_target: str
    model_name: str
    base_path: Path  # the folder the server polls for this model's versions: faults publish there
    requests: str  # sources.parse
    out_dir: Path
    seconds: float = 120.0
    interval: float = 10.0
    fault_every: float = 20.0
    clients: int = 4  # REST clients, and as many gRPC clients
    server_pid: int | None = None  # the server's process, for its memory (None: not measured)
    restore: bool = True
    echo: Callable[[str], None] = field(default=print, repr=False)


# --- faults --------------------------------------------------------------------------------------

MALFORMED_BODIES = (b"{not json", b'{"instances": [["a"]]}', b'{"instances": [{"dense": [1.0]}]}', b"",
                    b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"instances": [], "inputs": {}}')


async def malformed_burst(rest_url: str, model: str, recorder: Recorder, count: int = 30) -> None:
    """Bad requests must get 4xx {"error": ...}; recorded as malformed_<status> (5xx would be a bug)."""
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for i in range(count):
            body = MALFORMED_BODIES[i % len(MALFORMED_BODIES)]
            try:
                async with session.post(f"{rest_url}/v1/models/{model}:predict", data=body) as reply:
                    shaped = "error" in json.loads(await reply.read())
                    recorder.record(f"malformed_{reply.status}" + ("" if shaped else "_unshaped"))
            except (TimeoutError, aiohttp.ClientError, ValueError) as error:
                recorder.record(f"malformed_{type(error).__name__}")


# --- the run -------------------------------------------------------------------------------------

@dataclass
class SoakResult:
    model: str
    seconds: float
    requests: int
    outcomes: dict[str, int]
    rss_start_mb: float | None  # None: the server's process was not given
    rss_end_mb: float | None
    intervals: list[dict[str, Any]]
    faults: list[dict[str, Any]]

    @property
    def unexpected(self) -> dict[str, int]:
        """Outcomes that are neither OK nor the 4xx the malformed bursts ask for."""
        return {k: v for k, v in self.outcomes.items()
                if k != "ok" and not (k.startswith("malformed_4") and not k.endswith("_unshaped"))}


def rss_mb(pid: int | None) -> float | None:
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1) if pid else None


async def _soak(options: SoakOptions, rest_bodies: list[bytes], grpc_requests: list[Any]) -> SoakResult:
    rest_url, model, echo, pid = options.rest_url, options.model_name, options.echo, options.server_pid
    seconds, interval, fault_every = options.seconds, options.interval, options.fault_every
    recorder = Recorder()
    load = Load(rest_url, options.grpc_target, model, rest_bodies, grpc_requests, recorder,
                rest_clients=options.clients, grpc_clients=options.clients, access=access.current())
    rss_start = rss_mb(pid)
    faults: list[dict[str, Any]] = []
    intervals: list[dict[str, Any]] = []
    runner = asyncio.ensure_future(load.run())  # starts at the first await below
    started = recorder.origin = time.perf_counter()  # faults and intervals count from here
    next_report, next_fault, fault_index = started + interval, started + fault_every, 0
    while (now := time.perf_counter()) < started + seconds and not runner.done():
        await asyncio.sleep(max(0.05, min(next_report, next_fault, started + seconds) - now))
        now = time.perf_counter()
        if now >= next_fault:
            at = round(now - started, 1)
            if fault_index % 2 == 0:
                version = versions.publish_copy(versions.newest(options.base_path), options.base_path)
                faults.append({"t": at, "fault": "publish", "version": version})
            else:
                await malformed_burst(rest_url, model, recorder)
                faults.append({"t": at, "fault": "malformed_burst", "requests": 30})
            echo(f"  fault at {at:5.1f}s: {faults[-1]}")
            fault_index += 1
            next_fault += fault_every
        if now >= next_report:
            intervals.append(recorder.roll().summary(rss_mb(pid)))
            row = intervals[-1]
            echo(f"  from {row['t']:5.1f}s  requests {row['requests']:6d}  ok {row['ok']:6d}  p99 {row['p99_ms']} ms  "
                 f"rss {row['server_rss_mb']} MB  errors {row['errors'] or '-'}")
            next_report += interval
    load.stop.set()
    await runner
    if recorder.current.outcomes:
        intervals.append(recorder.roll().summary(rss_mb(pid)))
    total = dict(recorder.total)
    return SoakResult(model, round(time.perf_counter() - started, 1), sum(total.values()), total, rss_start,
                      rss_mb(pid), intervals, faults)


def run(options: SoakOptions) -> SoakResult:
    """Drive the server for options.seconds with faults; write out_dir/soak.json; then, with
    `restore`, remove the versions the faults published."""
    versions.newest(options.base_path)
    preflight.check_rest(options.rest_url, options.model_name)
    source = sources.parse(options.requests)
    rest_bodies = source.rest_bodies(options.model_name, 1, POOL, 0)
    grpc_requests = source.grpc_requests(options.model_name, 1, POOL, 0, options.rest_url)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    before = set(versions.published(options.base_path))
    options.echo(f"soak: {options.model_name} at {options.rest_url}, {options.seconds:g} s, {options.clients} REST + "
                 f"{options.clients} gRPC clients, a fault every {options.fault_every:g} s")
    try:
        result = asyncio.run(_soak(options, rest_bodies, grpc_requests))
    finally:
        if options.restore:
            versions.restore(options.base_path, before, options.rest_url, options.model_name)
    report = asdict(result) | {"unexpected": result.unexpected, "percentile_rule": PERCENTILE_RULE}
    (options.out_dir / "soak.json").write_text(json.dumps(report, indent=2))
    return result


def finish(result: SoakResult, out_dir: Path, echo: Callable[[str], None] = print) -> None:
    """The run's totals; LoadTestError when any outcome was unexpected."""
    echo(f"\nrequests {result.requests} in {result.seconds:g} s; outcomes {result.outcomes}")
    echo(f"server RSS {result.rss_start_mb} MB at start, {result.rss_end_mb} MB at end")
    echo("p99 per interval (ms): " + ", ".join(str(i["p99_ms"]) for i in result.intervals))
    echo(f"({PERCENTILE_RULE})")
    echo(f"report: {out_dir / 'soak.json'}")
    if result.unexpected:
        raise LoadTestError(f"unexpected outcomes: {result.unexpected}")
