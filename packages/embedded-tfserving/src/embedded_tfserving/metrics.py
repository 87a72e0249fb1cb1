"""TF Serving's Prometheus metrics: same names, labels, units (microseconds) and buckets, rendered in
its exposition format (`/` -> `:` in names, `# TYPE` lines, no HELP lines, no `_total`/`_created`).

prometheus-client holds the values (in a registry of our own); `render` writes them the way TF
Serving's prometheus_exporter.cc does, so dashboards and alerts work against either server.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram


def exponential(scale: float, growth: float, count: int) -> list[float]:
    """monitoring::Buckets::Exponential: scale * growth**i for i < count (then +Inf)."""
    return [scale * growth**i for i in range(count)]


LATENCY_BUCKETS = exponential(10, 1.8, 33)
QUEUING_BUCKETS = exponential(100, 1.2, 52)
BATCH_SIZE_BUCKETS = exponential(1, 2, 14)


def _name(tf_name: str) -> str:
    return tf_name.replace("/", ":")


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.request_count = Counter(_name("/tensorflow/serving/request_count"), "", ["model_name", "status"], registry=r)
        self.request_latency = Histogram(_name("/tensorflow/serving/request_latency"), "",
                                         ["model_name", "API", "entrypoint"], buckets=LATENCY_BUCKETS, registry=r)
        self.runtime_latency = Histogram(_name("/tensorflow/serving/runtime_latency"), "",
                                         ["model_name", "API", "runtime"], buckets=LATENCY_BUCKETS, registry=r)
        self.queuing_latency = Histogram(_name("/tensorflow/serving/batching_session/queuing_latency"), "",
                                         ["thread_pool_name"], buckets=QUEUING_BUCKETS, registry=r)
        self.wrapped_run_count = Counter(_name("/tensorflow/serving/batching_session/wrapped_run_count"), "", registry=r)
        self.input_batch_size = Histogram(_name("/tensorflow/serving/batching_session/input_batch_size"), "",
                                          buckets=BATCH_SIZE_BUCKETS, registry=r)
        self.processed_batch_size = Histogram(_name("/tensorflow/serving/batching_session/processed_batch_size"), "",
                                              buckets=BATCH_SIZE_BUCKETS, registry=r)
        self.warmup_latency = Histogram(_name("/tensorflow/serving/model_warmup_latency"), "",
                                        ["model_path", "status"], buckets=LATENCY_BUCKETS, registry=r)
        self.load_attempt_count = Counter(_name("/tensorflow/cc/saved_model/load_attempt_count"), "",
                                          ["model_path", "status"], registry=r)

        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        """metric.labels(*values), kept: prometheus_client looks a child up under a lock on every call,
        and the request path records four to five points per request."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    # The points recorded per request, as TF Serving records them.
    def count_request(self, model: str, status: str) -> None:
        self._child(self.request_count, model, status).inc()

    def observe_request(self, model: str, api: str, entrypoint: str, micros: float) -> None:
        self._child(self.request_latency, model, api, entrypoint).observe(micros)

    def observe_runtime(self, model: str, api: str, micros: float) -> None:
        self._child(self.runtime_latency, model, api, "TF1").observe(micros)

    def observe_queuing(self, thread_pool: str, micros: float) -> None:
        self._child(self.queuing_latency, thread_pool).observe(micros)

    def render(self) -> str:
        return render(self.registry)


def _g(value: float) -> str:
    """absl::StrCat(double): six significant digits."""
    return format(value, ".6g")


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())


def _line(name: str, labels: str, value: str | int) -> str:
    return name + "{" + labels + "} " + str(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def render(registry: CollectorRegistry) -> str:
    """TF Serving's text page for every metric that has at least one point."""
    lines: list[str] = []
    for family in sorted(registry.collect(), key=lambda f: f.name):
        if family.type == "counter":
            points = [s for s in family.samples if s.name.endswith("_total")]
            if not points:
                continue
            lines.append(f"# TYPE {family.name} counter")
            lines += [_line(family.name, _labels(s.labels), int(s.value)) for s in points]
        elif family.type == "histogram":
            buckets = [s for s in family.samples if s.name.endswith("_bucket")]
            if not buckets:
                continue
            lines.append(f"# TYPE {family.name} histogram")
            sums = {tuple(s.labels.items()): s.value for s in family.samples if s.name.endswith("_sum")}
            for sample in buckets:
                labels = dict(sample.labels)
                bound = labels.pop("le")
                le = "+Inf" if bound == "+Inf" else _g(float(bound))
                prefix = _labels(labels) + ("," if labels else "")
                lines.append(_line(family.name + "_bucket", f'{prefix}le="{le}"', int(sample.value)))
                if bound == "+Inf":
                    key = tuple(labels.items())
                    lines.append(_line(family.name + "_sum", _labels(labels), _g(sums.get(key, 0.0))))
                    lines.append(_line(family.name + "_count", _labels(labels), int(sample.value)))
    return "\n".join(lines) + "\n"
