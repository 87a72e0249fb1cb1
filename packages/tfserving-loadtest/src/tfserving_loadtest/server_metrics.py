"""TF Serving's Prometheus metrics (text format on the REST port), read before and after a level."""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from prometheus_client.parser import text_string_to_metric_families

PATH = "/monitoring/prometheus/metrics"
REQUEST_COUNT = ":tensorflow:serving:request_count"
WRAPPED_RUNS = ":tensorflow:serving:batching_session:wrapped_run_count"
BATCH_SIZE = ":tensorflow:serving:batching_session:processed_batch_size"


@dataclass
class Snapshot:
    """Samples as {(name, ((label, value), ...)): value}."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`."""
        return sum(
            value for (sample, sample_labels), value in self.samples.items()
            if sample == name and all(item in sample_labels for item in labels.items())
        )

    def buckets(self, name: str) -> dict[float, float]:
        """Cumulative histogram buckets {le: count}, summed over label sets."""
        result: dict[float, float] = {}
        for (sample, labels), value in self.samples.items():
            if sample == f"{name}_bucket":
                le = float(dict(labels)["le"])
                result[le] = result.get(le, 0.0) + value
        return dict(sorted(result.items()))


def parse(text: str) -> Snapshot:
    """The samples of a Prometheus text page, read by prometheus_client's parser. TF Serving names
    its counters without `_total`; the parser adds it, so it is taken off again here."""
    snapshot = Snapshot()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name.removesuffix("_total") if family.type == "counter" else sample.name
            snapshot.samples[(name, tuple(sorted(sample.labels.items())))] = sample.value
    return snapshot


def scrape(rest_url: str) -> Snapshot:
    try:
        reply = requests.get(rest_url + PATH, timeout=5)
    except requests.RequestException:
        return Snapshot()  # metrics are a bonus; the load test's own numbers stand without them
    return parse(reply.text) if reply.ok else Snapshot()


@dataclass(frozen=True)
class BatchingStats:
    requests: float  # successful requests the server counted
    batches: float  # batches run (0 when batching is off)
    average_batch_size: float | None  # rows per batch run; None when nothing ran
    batch_size_histogram: dict[float, float]  # non-cumulative: upper bound -> batches


def batching_delta(before: Snapshot, after: Snapshot, model_name: str, rows_per_request: int) -> BatchingStats:
    requests_ok = after.total(REQUEST_COUNT, model_name=model_name, status="OK") - before.total(
        REQUEST_COUNT, model_name=model_name, status="OK")
    count = after.total(f"{BATCH_SIZE}_count") - before.total(f"{BATCH_SIZE}_count")
    rows = after.total(f"{BATCH_SIZE}_sum") - before.total(f"{BATCH_SIZE}_sum")
    runs = after.total(WRAPPED_RUNS) - before.total(WRAPPED_RUNS)
    average: float | None
    if count > 0:
        average = rows / count
    elif runs > 0:
        average = requests_ok * rows_per_request / runs
    else:
        # Batching off: every request runs the model on its own rows.
        average = float(rows_per_request) if requests_ok else None
    cumulative_before, cumulative_after = before.buckets(BATCH_SIZE), after.buckets(BATCH_SIZE)
    histogram, previous = {}, 0.0
    for le, value in cumulative_after.items():
        delta = value - cumulative_before.get(le, 0.0)
        histogram[le] = delta - previous
        previous = delta
    return BatchingStats(requests_ok, max(runs, count), average, histogram)
