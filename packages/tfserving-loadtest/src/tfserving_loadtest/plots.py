"""PNG plots for the reports (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .stats import percentile

if TYPE_CHECKING:
    from .locust_run import Request


def batching_curves(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Throughput and latency against concurrency, batching off vs on."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for mode, color in (("off", "tab:gray"), ("on", "tab:blue")):
        points = sorted((r["users"], r) for r in rows if r["batching"] == mode)
        users = [u for u, _ in points]
        left.plot(users, [r["rps"] or 0 for _, r in points], "o-", color=color, label=f"batching {mode}")
        right.plot(users, [r["p99_ms"] or 0 for _, r in points], "o-", color=color, label=f"p99, batching {mode}")
        right.plot(users, [r["p50_ms"] or 0 for _, r in points], "o--", color=color, alpha=0.6,
                   label=f"p50, batching {mode}")
    left.set(title="Throughput", xlabel="concurrent users", ylabel="requests/s", xscale="log")
    right.set(title="Latency", xlabel="concurrent users", ylabel="ms", xscale="log")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    return _save(figure, path)


def batch_sizes(histograms: dict[str, dict[float, float]], path: Path) -> Path:
    """Batches run per batch-size bucket (server's processed_batch_size histogram), per level."""
    figure, axis = plt.subplots(figsize=(8, 4))
    labels = list(histograms)
    bounds = sorted({le for h in histograms.values() for le in h if le != float("inf")})
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        counts = [histograms[label].get(le, 0.0) for le in bounds]
        axis.bar([x + i * width for x in range(len(bounds))], counts, width=width, label=label)
    axis.set_xticks([x + 0.4 - width / 2 for x in range(len(bounds))], [f"<={le:g}" for le in bounds], fontsize=8)
    axis.set(title="Batch sizes with batching on", xlabel="rows per batch", ylabel="batches")
    if not labels:
        axis.text(0.5, 0.5, "no batching metrics reported by the server", ha="center", transform=axis.transAxes)
    axis.legend(fontsize=8)
    return _save(figure, path)


def latency_timeline(requests: Sequence[Request], markers: Sequence[tuple[float, str, str]],
                     path: Path, title: str = "Latency during the run") -> Path:
    """Every request's latency over time (s from start), with vertical markers (t, label, color)."""
    figure, axis = plt.subplots(figsize=(11, 4))
    ok = [(t, ms) for t, ms, good, _ in requests if good]
    failed = [(t, ms) for t, ms, good, _ in requests if not good]
    if ok:
        axis.scatter([t for t, _ in ok], [ms for _, ms in ok], s=2, alpha=0.4, label="request")
    if failed:
        axis.scatter([t for t, _ in failed], [ms for _, ms in failed], s=10, color="red", label="failed request")
    for t, label, color in markers:
        axis.axvline(t, color=color, linestyle="--", alpha=0.8)
        axis.text(t, axis.get_ylim()[1] * 0.95, f" {label}", color=color, fontsize=8, va="top")
    axis.set(title=title, xlabel="seconds since start", ylabel="latency (ms)", yscale="log")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    return _save(figure, path)


def _mark(axis: Any, markers: Sequence[tuple[float, str, str]]) -> None:
    for t, label, color in markers:
        axis.axvline(t, color=color, linestyle="--", alpha=0.8)
        axis.text(t, axis.get_ylim()[1] * 0.95, f" {label}", color=color, fontsize=7, va="top", rotation=90)


def throughput_timeline(requests: Sequence[Request], markers: Sequence[tuple[float, str, str]], path: Path) -> Path:
    """Requests (ok, failed) and p99 per one-second bin of the request log, with markers."""
    bins: dict[int, list[tuple[float, int]]] = {}
    for t, ms, ok, _ in requests:
        bins.setdefault(int(t), []).append((ms, ok))
    seconds = sorted(bins)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(seconds, [sum(ok for _, ok in bins[s]) for s in seconds], label="answered/s")
    top.plot(seconds, [sum(1 - ok for _, ok in bins[s]) for s in seconds], color="red", label="failed/s")
    bottom.plot(seconds, [percentile([ms for ms, _ in bins[s]], 0.99) for s in seconds], label="p99 of the second")
    top.set(title="Throughput", ylabel="requests per second")
    bottom.set(title="Latency", xlabel="seconds since start", ylabel="ms")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower left")
        _mark(axis, markers)
    return _save(figure, path)


def replica_timeline(series: dict[str, Sequence[tuple[float, float]]], markers: Sequence[tuple[float, str, str]],
                     path: Path) -> Path:
    """Requests/s each replica answered over time (the balancer's counts), with markers."""
    figure, axis = plt.subplots(figsize=(11, 4))
    for name, points in series.items():
        axis.plot([t for t, _ in points], [rps for _, rps in points], label=name)
    if not series:
        axis.text(0.5, 0.5, "no counts from the balancer", ha="center", transform=axis.transAxes)
    axis.set(title="Which replica answered", xlabel="seconds since start", ylabel="requests per second")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7, loc="lower left")
    _mark(axis, markers)
    return _save(figure, path)


def scaling(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Median throughput and p99 per replica count, with the host's CPU use."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    labels = [str(r["replicas"]) for r in rows]
    left.bar(labels, [r["median_rps"] for r in rows], color="tab:blue", label="requests/s (median)")
    cpu = left.twinx()
    cpu.plot(labels, [r["median_host_cpu_percent"] for r in rows], "o-", color="tab:red", label="host CPU %")
    cpu.set(ylabel="host CPU %", ylim=(0, 105))
    right.bar(labels, [r["median_p99_ms"] for r in rows], color="tab:orange", label="p99 ms (median)")
    left.set(title="Throughput through the balancer", xlabel="replicas", ylabel="requests/s")
    right.set(title="Latency", xlabel="replicas", ylabel="ms")
    for axis in (left, right, cpu):
        axis.legend(fontsize=8, loc="lower right" if axis is cpu else "lower left")
    return _save(figure, path)


def history_timeline(history_csv: Path, path: Path) -> Path:
    """Requests/s, p50/p95 and users over time from Locust's --csv-full-history file."""
    rows = []
    if history_csv.is_file():
        with history_csv.open() as file:
            rows = [r for r in csv.DictReader(file) if r.get("Name") == "Aggregated"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True)
    if rows:
        start = int(rows[0]["Timestamp"])
        seconds = [int(r["Timestamp"]) - start for r in rows]

        def column(name: str) -> list[float]:
            return [float(r[name]) if r[name] not in ("", "N/A") else float("nan") for r in rows]

        top.plot(seconds, column("Requests/s"), label="requests/s")
        top.plot(seconds, column("Failures/s"), color="red", label="failures/s")
        users_axis = top.twinx()
        users_axis.plot(seconds, column("User Count"), color="gray", alpha=0.5, label="users")
        users_axis.set_ylabel("users")
        bottom.plot(seconds, column("50%"), label="p50 (recent)")
        bottom.plot(seconds, column("95%"), label="p95 (recent)")
    top.set(title="Throughput", ylabel="per second")
    bottom.set(title="Latency (Locust's recent window)", xlabel="seconds since start", ylabel="ms")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    return _save(figure, path)


def capacity_curves(curves: Mapping[str, Sequence[dict[str, Any]]], capacities: Mapping[str, float | None], slo_ms: float,
                    path: Path) -> Path:
    """Latency against achieved throughput, one curve per label (probes in rate order), the SLO as
    a line and each curve's knee (its capacity: the highest rate within the SLO) circled."""
    figure, axis = plt.subplots(figsize=(9, 5))
    for (label, probes), color in zip(curves.items(), ("tab:gray", "tab:blue", "tab:green", "tab:purple")):
        points = sorted((p["target_rps"], p) for p in probes if p.get("p99_ms") is not None)
        axis.plot([p["rps"] or 0 for _, p in points], [p["p99_ms"] for _, p in points], "o-", color=color,
                  label=f"p99, {label}")
        axis.plot([p["rps"] or 0 for _, p in points], [p["p50_ms"] for _, p in points], "o--", color=color,
                  alpha=0.5, label=f"p50, {label}")
        knee = next((p for rate, p in points if rate == capacities.get(label)), None)
        if knee:
            axis.plot([knee["rps"]], [knee["p99_ms"]], "o", markersize=16, fillstyle="none", color=color)
            axis.annotate(f" capacity {capacities[label]:g}/s", (knee["rps"], knee["p99_ms"]), color=color, fontsize=8)
    axis.axhline(slo_ms, color="red", linestyle="--", label=f"SLO p99 {slo_ms:g} ms")
    axis.set(title="Latency against throughput (open loop; latency from each request's due time)",
             xlabel="achieved requests/s", ylabel="ms", yscale="log")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    return _save(figure, path)


def candidates(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Capacity of each batching candidate the tuner tried, in the order tried; the best in green."""
    figure, axis = plt.subplots(figsize=(max(8, len(rows) * 0.7), 4.5))
    best = max((r["capacity_rps"] or 0 for r in rows), default=0)
    colors = ["tab:green" if (r["capacity_rps"] or 0) == best and best else
              "tab:gray" if r.get("baseline") else "tab:blue" for r in rows]
    axis.bar([str(r["candidate"]) for r in rows], [r["capacity_rps"] or 0 for r in rows], color=colors)
    axis.set(title="Capacity at the SLO per candidate (gray: the baseline)",
             xlabel="candidate (see the table)", ylabel="requests/s")
    axis.grid(alpha=0.3, axis="y")
    return _save(figure, path)


def _save(figure: Any, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
