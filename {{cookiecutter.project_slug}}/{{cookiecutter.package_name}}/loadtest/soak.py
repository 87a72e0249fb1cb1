"""The soak test: the embedded server on the newest published model, mixed REST + gRPC load from
closed-loop clients, and periodic faults (a new version published, a burst of malformed
requests). Reports, per interval, requests served, errors by kind, p99 and server memory, and
writes reports/<timestamp>-soak/soak.json.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from embedded_tfserving.process import ServerProcess
from tfserving_loadtest.closed_loop import Load, Recorder
from tfserving_loadtest.stats import PERCENTILE_RULE

from ..export.publish import publish_version
from .payloads import grpc_requests, rest_bodies
from .preflight import newest_version

# --- faults --------------------------------------------------------------------------------------

def publish_copy(base_path: Path) -> int:
    """Publish the newest version again under the next number."""
    return publish_version(newest_version(base_path.parent, base_path.name), base_path.parent, base_path.name)


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
    rss_start_mb: float
    rss_end_mb: float
    intervals: list[dict[str, Any]]
    faults: list[dict[str, Any]]

    @property
    def unexpected(self) -> dict[str, int]:
        """Outcomes that are neither OK nor the 4xx the malformed bursts ask for."""
        return {k: v for k, v in self.outcomes.items()
                if k != "ok" and not (k.startswith("malformed_4") and not k.endswith("_unshaped"))}


def rss_mb(pid: int | None) -> float:
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1) if pid else float("nan")


async def _soak(server: ServerProcess, base_path: Path, model: str, seconds: float, interval: float,
                fault_every: float, clients: int, echo: Callable[[str], None]) -> SoakResult:
    recorder = Recorder()
    load = Load(server.rest_url, server.grpc_target, model, rest_bodies(pool=64), grpc_requests(model, pool=64),
                recorder, rest_clients=clients, grpc_clients=clients)
    rss_start = rss_mb(server.pid)
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
                faults.append({"t": at, "fault": "publish", "version": publish_copy(base_path)})
            else:
                await malformed_burst(server.rest_url, model, recorder)
                faults.append({"t": at, "fault": "malformed_burst", "requests": 30})
            echo(f"  fault at {at:5.1f}s: {faults[-1]}")
            fault_index += 1
            next_fault += fault_every
        if now >= next_report:
            intervals.append(recorder.roll().summary(rss_mb(server.pid)))
            row = intervals[-1]
            echo(f"  from {row['t']:5.1f}s  requests {row['requests']:6d}  ok {row['ok']:6d}  p99 {row['p99_ms']} ms  "
                 f"rss {row['server_rss_mb']} MB  errors {row['errors'] or '-'}")
            next_report += interval
    load.stop.set()
    await runner
    if recorder.current.outcomes:
        intervals.append(recorder.roll().summary(rss_mb(server.pid)))
    total = dict(recorder.total)
    return SoakResult(model, round(time.perf_counter() - started, 1), sum(total.values()), total, rss_start,
                      rss_mb(server.pid), intervals, faults)


def run_soak(models_dir: Path, model: str, out_dir: Path, seconds: float = 120, interval: float = 10,
             fault_every: float = 20, clients: int = 4, batching_file: Path | None = None,
             echo: Callable[[str], None] = print) -> SoakResult:
    """Serve a copy of the newest version of models_dir/model (faults publish into the copy, never
    into models_dir) on 127.0.0.1 free ports; drive and report; stop the server."""
    newest = newest_version(models_dir, model)
    out_dir.mkdir(parents=True, exist_ok=True)
    served = out_dir / "models" / model
    shutil.copytree(newest, served / "1")
    flags = ["--port=0", f"--model_name={model}", f"--model_base_path={served.resolve()}", "--file_system_poll_wait_seconds=1",
             "--max_num_load_retries=0"]
    if batching_file is not None:
        flags += ["--enable_batching", f"--batching_parameters_file={batching_file.resolve()}"]
    echo(f"soak: {model} version {newest.name} (served as a copy in {served}), {seconds:g} s, "
         f"{clients} REST + {clients} gRPC clients, a fault every {fault_every:g} s")
    with ServerProcess(flags, out_dir / "server.log") as server:  # plain loopback: no TLS, no keys
        server.start()
        result = asyncio.run(_soak(server, served, model, seconds, interval, fault_every, clients, echo))
        code = server.stop()
    report = asdict(result) | {"unexpected": result.unexpected, "server_exit_code": code,
                               "percentile_rule": PERCENTILE_RULE}
    (out_dir / "soak.json").write_text(json.dumps(report, indent=2))
    return result
