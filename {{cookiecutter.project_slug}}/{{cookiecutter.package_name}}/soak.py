"""`soak`: a bounded soak test on loopback: the embedded server on the newest published model, mixed
REST + gRPC load from asyncio clients, and periodic faults (a new version published, a burst of
malformed requests). Prints, per interval, requests served, errors by kind, p99 and server memory;
writes reports/<timestamp>-soak/soak.json.

Every request ends as exactly one outcome: "ok", an explicit server error ("rest_503", "grpc_UNAVAILABLE",
...) or a transport error ("rest_ServerDisconnectedError", ...): nothing is dropped silently.
The load generator (`Load`) is reused by tests/hardening for the overload and fault tests.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import click


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Interval:
    """One reporting interval: outcomes counted by kind, latencies of the OK ones."""

    started: float
    outcomes: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def summary(self, rss_mb: float | None) -> dict[str, Any]:
        p99 = percentile(self.latencies, 0.99)
        return {"t": round(self.started, 1), "requests": sum(self.outcomes.values()), "ok": self.outcomes["ok"],
                "errors": {k: v for k, v in self.outcomes.items() if k != "ok"},
                "p99_ms": round(p99 * 1e3, 2) if p99 is not None else None, "server_rss_mb": rss_mb}


class Recorder:
    def __init__(self) -> None:
        self.origin = time.perf_counter()  # interval times count from here (the soak resets it)
        self.total: Counter = Counter()
        self.current = Interval(0.0)

    def record(self, kind: str, latency: float | None = None) -> None:
        self.total[kind] += 1
        self.current.outcomes[kind] += 1
        if kind == "ok" and latency is not None:
            self.current.latencies.append(latency)

    def roll(self) -> Interval:
        done, self.current = self.current, Interval(time.perf_counter() - self.origin)
        return done


class Load:
    """Closed-loop REST and gRPC clients (each sends its next request when the last returns).
    `ca_file`/`api_key`: TLS trusting that CA and a key, for a secured server (e.g. from
    loadtest.settings.ca_file() and api_key())."""

    def __init__(self, rest_url: str, grpc_target: str, model: str, rest_bodies: list[bytes], grpc_requests: list,
                 recorder: Recorder, rest_clients: int = 4, grpc_clients: int = 4, timeout: float = 30.0,
                 ca_file: str = "", api_key: str = "") -> None:
        self.rest_url, self.grpc_target, self.model = rest_url, grpc_target, model
        self.ca_file, self.api_key = ca_file, api_key
        self.rest_bodies, self.grpc_requests = rest_bodies, grpc_requests
        self.recorder, self.rest_clients, self.grpc_clients, self.timeout = recorder, rest_clients, grpc_clients, timeout
        self.stop = asyncio.Event()

    async def run(self, requests_per_client: int | None = None) -> None:
        """Until `stop` is set, or until each client has sent `requests_per_client` requests."""
        import aiohttp
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        ssl_context = None
        if self.ca_file:
            import ssl

            ssl_context = ssl.create_default_context(cafile=self.ca_file)
        headers = {"Content-Type": "application/json", **_auth(self.api_key)}
        metadata = (("authorization", f"Bearer {self.api_key}"),) if self.api_key else ()
        channel = (grpc.aio.secure_channel(self.grpc_target, grpc.ssl_channel_credentials(Path(self.ca_file).read_bytes()))
                   if self.ca_file else grpc.aio.insecure_channel(self.grpc_target))
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        url = f"{self.rest_url}/v1/models/{self.model}:predict"
        timeout = aiohttp.ClientTimeout(total=self.timeout)

        def more(sent: int) -> bool:
            return not self.stop.is_set() and (requests_per_client is None or sent < requests_per_client)

        async def rest_client(session: aiohttp.ClientSession, offset: int) -> None:
            sent = 0
            while more(sent):
                body = self.rest_bodies[(offset + sent) % len(self.rest_bodies)]
                sent += 1
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers, ssl=ssl_context) as reply:
                        payload = await reply.read()
                        ok = reply.status == 200 and b"predictions" in payload
                        kind = "ok" if ok else f"rest_{reply.status}"
                except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                    kind = f"rest_{type(error).__name__}"
                self.recorder.record(kind, time.perf_counter() - started)

        async def grpc_client(offset: int) -> None:
            sent = 0
            while more(sent):
                request = self.grpc_requests[(offset + sent) % len(self.grpc_requests)]
                sent += 1
                started = time.perf_counter()
                try:
                    await stub.Predict(request, timeout=self.timeout, metadata=metadata)
                    kind = "ok"
                except grpc.aio.AioRpcError as error:
                    kind = f"grpc_{error.code().name}"
                self.recorder.record(kind, time.perf_counter() - started)

        try:
            async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
                await asyncio.gather(*(rest_client(session, k) for k in range(self.rest_clients)),
                                     *(grpc_client(k) for k in range(self.grpc_clients)))
        finally:
            await channel.close()


# --- faults --------------------------------------------------------------------------------------

def publish_copy(base_path: Path) -> int:
    """Publish the newest version again under the next number (atomically: copy beside, rename)."""
    versions = sorted(int(p.name) for p in base_path.iterdir() if p.name.isdigit())
    number = versions[-1] + 1
    staging = base_path / f".tmp-soak-{number}"
    shutil.copytree(base_path / str(versions[-1]), staging)
    staging.rename(base_path / str(number))
    return number


MALFORMED_BODIES = (b"{not json", b'{"instances": [["a"]]}', b'{"instances": [{"dense": [1.0]}]}', b"",
                    b'{"instances": ' + b"[" * 5000 + b"]" * 5000 + b"}", b'{"instances": [], "inputs": {}}')


def _auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def malformed_burst(rest_url: str, model: str, recorder: Recorder, count: int = 30, api_key: str = "") -> None:
    """Bad requests must get 4xx {"error": ...}; recorded as malformed_<status> (5xx would be a bug)."""
    import aiohttp

    headers = _auth(api_key)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        for i in range(count):
            body = MALFORMED_BODIES[i % len(MALFORMED_BODIES)]
            try:
                async with session.post(f"{rest_url}/v1/models/{model}:predict", data=body, headers=headers) as reply:
                    shaped = "error" in json.loads(await reply.read())
                    recorder.record(f"malformed_{reply.status}" + ("" if shaped else "_unshaped"))
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                recorder.record(f"malformed_{type(error).__name__}")


# --- the command ---------------------------------------------------------------------------------

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


def _rss_mb(pid: int | None) -> float:
    import psutil

    return round(psutil.Process(pid).memory_info().rss / 2**20, 1) if pid else float("nan")


async def _soak(server: Any, base_path: Path, model: str, seconds: float, interval: float, fault_every: float,
                clients: int, echo: Any) -> SoakResult:
    from .loadtest.payloads import grpc_requests, rest_bodies

    recorder = Recorder()
    load = Load(server.rest_url, server.grpc_target, model, rest_bodies(pool=64), grpc_requests(model, pool=64),
                recorder, rest_clients=clients, grpc_clients=clients)
    rss_start = _rss_mb(server.pid)
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
            intervals.append(recorder.roll().summary(_rss_mb(server.pid)))
            row = intervals[-1]
            echo(f"  from {row['t']:5.1f}s  requests {row['requests']:6d}  ok {row['ok']:6d}  p99 {row['p99_ms']} ms  "
                 f"rss {row['server_rss_mb']} MB  errors {row['errors'] or '-'}")
            next_report += interval
    load.stop.set()
    await runner
    if recorder.current.outcomes:
        intervals.append(recorder.roll().summary(_rss_mb(server.pid)))
    total = dict(recorder.total)
    return SoakResult(model, round(time.perf_counter() - started, 1), sum(total.values()), total, rss_start,
                      _rss_mb(server.pid), intervals, faults)


def run_soak(models_dir: Path, model: str, out_dir: Path, seconds: float = 120, interval: float = 10,
             fault_every: float = 20, clients: int = 4, batching_file: Path | None = None,
             echo: Any = print) -> SoakResult:
    """Serve a copy of the newest version of models_dir/model (faults publish into the copy, never
    into models_dir) on 127.0.0.1 free ports; drive and report; stop the server."""
    from .serving.process import EmbeddedServer

    base = models_dir / model
    versions = sorted((p for p in base.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)) if base.is_dir() else []
    if not versions:
        raise click.ClickException(f"no published version under {base}; run `make train export` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    served = out_dir / "models" / model
    shutil.copytree(versions[-1], served / "1")
    flags = ["--port=0", f"--model_name={model}", f"--model_base_path={served.resolve()}", "--file_system_poll_wait_seconds=1",
             "--max_num_load_retries=0"]
    if batching_file is not None:
        flags += ["--enable_batching", f"--batching_parameters_file={batching_file.resolve()}"]
    echo(f"soak: {model} version {versions[-1].name} (served as a copy in {served}), {seconds:g} s, "
         f"{clients} REST + {clients} gRPC clients, a fault every {fault_every:g} s")
    with EmbeddedServer(flags, log_path=out_dir / "server.log") as server:  # plain loopback: no TLS, no keys
        server.start()
        result = asyncio.run(_soak(server, served, model, seconds, interval, fault_every, clients, echo))
        code = server.stop()
    report = asdict(result) | {"unexpected": result.unexpected, "server_exit_code": code}
    (out_dir / "soak.json").write_text(json.dumps(report, indent=2))
    return result


@click.command("soak")
@click.option("--model-name", envvar="MODEL_NAME", default="ctr", show_default=True)
@click.option("--models-dir", type=click.Path(path_type=Path, file_okay=False), default=Path("models"), show_default=True)
@click.option("--duration", type=float, default=120, show_default=True, help="Seconds of load.")
@click.option("--interval", type=float, default=10, show_default=True, help="Seconds per reported interval.")
@click.option("--fault-every", type=float, default=20, show_default=True,
              help="Seconds between faults (alternately: publish a new version, a burst of malformed requests).")
@click.option("--clients", type=int, default=4, show_default=True, help="REST clients, and as many gRPC clients.")
@click.option("--batching-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              default=Path("compose/batching.conf"), show_default=True)
@click.option("--output", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Report folder (default: reports/<time>-soak/).")
def soak_command(model_name: str, models_dir: Path, duration: float, interval: float, fault_every: float,
                 clients: int, batching_file: Path, output: Path | None) -> None:
    """Bounded soak on loopback: embedded server, mixed REST+gRPC load, periodic faults; JSON report."""
    if not 0 < duration <= 3600 or not 1 <= clients <= 64:
        raise click.BadParameter("--duration must be in (0, 3600] and --clients in [1, 64]")
    out_dir = output or Path("reports") / f"{time.strftime('%Y%m%d-%H%M%S')}-soak"
    result = run_soak(models_dir, model_name, out_dir, duration, interval, fault_every, clients, batching_file,
                      echo=lambda line: click.echo(line, err=True))
    click.echo(f"\nrequests {result.requests} in {result.seconds:g} s; outcomes {result.outcomes}")
    click.echo(f"server RSS {result.rss_start_mb} MB at start, {result.rss_end_mb} MB at end")
    click.echo("p99 per interval (ms): " + ", ".join(str(i["p99_ms"]) for i in result.intervals))
    click.echo(f"report: {out_dir / 'soak.json'}")
    if result.unexpected:
        raise click.ClickException(f"unexpected outcomes: {result.unexpected}")
