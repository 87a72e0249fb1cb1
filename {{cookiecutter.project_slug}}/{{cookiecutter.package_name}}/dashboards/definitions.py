"""The dashboards: what to look at while serving and load-testing a model with TF Serving.

Metric names are TF Serving's own (`/tensorflow/serving/request_count` is exported to Prometheus
as `:tensorflow:serving:request_count`); latencies are histograms in microseconds. The SLO
dashboard reads the recording rules of compose/rules/ (recording.yml, slo.yml) instead, so that
it counts errors and slow requests exactly as the alerts of alerts.yml do.
"""

from __future__ import annotations

from tfserving_loadtest.dashboards.panels import Annotation, Dashboard, Panel, Query, legend

M = 'model_name="$model"'
OK_API = 'API!=""'  # status and metadata GETs are recorded with API=""
RATE = "[$__rate_interval]"
# TF Serving labels model loads by path: <base_path>/<version>, e.g. /models/ctr/3.
MODEL_PATH = 'model_path=~".*/$model/[0-9]+/?"'
LATENCY = ":tensorflow:serving:request_latency_bucket"
LOADS = ":tensorflow:cc:saved_model:load_attempt_count"


def sel(metric: str, *matchers: str) -> str:
    """A PromQL selector: sel("up", 'job="x"') is up{job="x"}."""
    return metric + "{" + ", ".join(matchers) + "}"


REQUESTS = sel(":tensorflow:serving:request_count", M)
FAILED_REQUESTS = sel(":tensorflow:serving:request_count", M, 'status!="OK"')
SUCCESS_LATENCY = sel(LATENCY, M, OK_API)
LOADED = sel(LOADS, MODEL_PATH, 'status="success"')


# Why a dashboard's panels may be empty over a window (the preview says so).
NO_BATCHES = "no batch ran in this window (batching off, or no traffic)"
NO_LOAD_GENERATOR = ("Prometheus did not scrape the load generator's exporter (LOADTEST_METRICS_PORT) often enough "
                     "in this window: no load test ran, or it was shorter than a few scrape intervals")


# Red marks wherever an alert of compose/rules/alerts.yml fired: those about this model, and those
# about no model in particular (the server down, the batching queue, the load generator).
ALERTS = Annotation(
    "Alerts firing", 'ALERTS{alertstate="firing", model_name=~"$model|"}', color="red",
    title=legend("alertname"), text=legend("alertname") + " (" + legend("severity") + ")",
    tag_keys=("alertname", "severity", "model_name"),
)


def quantiles(bucket_selector: str, by: str = "") -> tuple[Query, ...]:
    """p50/p95/p99 of a histogram, optionally split by a label."""
    group = f"le, {by}" if by else "le"
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({group}) (rate({bucket_selector}{RATE})))",
            legend(by) + f" p{round(q * 100)}" if by else f"p{round(q * 100)}",
        )
        for q in (0.5, 0.95, 0.99)
    )


def ratio(part: str, whole: str) -> str:
    """part/whole of two counters' rates; 0 rather than no data while `part` has no series."""
    return f"(sum(rate({part}{RATE})) or vector(0)) / sum(rate({whole}{RATE}))"


SERVING_OVERVIEW = Dashboard(
    uid="tfs-overview",
    title="TF Serving / Overview",
    description="Traffic, errors and latency of one model as TF Serving sees them. Red marks are "
                "alerts firing.",
    annotations=(ALERTS,),
    panels=(
        Panel("Requests per second", "All requests to the model per second, whatever their outcome.",
              (Query(f"sum(rate({REQUESTS}{RATE}))", "requests/s"),), unit="reqps", kind="stat", width=6, height=6),
        Panel("Error ratio", "Share of requests whose status is not OK. Batching queue overflow "
              "(UNAVAILABLE, HTTP 503) and bad inputs (INVALID_ARGUMENT, HTTP 400) show up here.",
              (Query(ratio(FAILED_REQUESTS, REQUESTS), "errors"),),
              unit="percentunit", kind="stat", width=6, height=6),
        Panel("Request rate by status", "Requests per second split by their canonical status code "
              "(OK, INVALID_ARGUMENT, UNAVAILABLE, ...), counted for REST and gRPC alike.",
              (Query(f"sum by (status) (rate({REQUESTS}{RATE}))", legend("status")),), unit="reqps", height=6),
        Panel("Request latency (p50 / p95 / p99)", "Server-side latency of successful requests, from "
              "arrival to reply: JSON or protobuf decoding, batching queue, model run, encoding. "
              "Quantiles are estimated from histogram buckets, so they move in steps.",
              quantiles(SUCCESS_LATENCY), unit="µs"),
        Panel("Model runtime latency (p50 / p95 / p99)", "Time spent running the TensorFlow graph "
              "(the batch, not the single request). The gap to request latency is the time spent "
              "waiting in the batching queue and converting inputs and outputs.",
              quantiles(sel(":tensorflow:serving:runtime_latency_bucket", M)), unit="µs"),
        Panel("Successful requests by entrypoint", "REST versus gRPC requests per second. gRPC skips "
              "JSON, so the same load costs the server less CPU there.",
              (Query(f"sum by (entrypoint) (rate({sel(':tensorflow:serving:request_latency_count', M, OK_API)}{RATE}))",
                     legend("entrypoint")),), unit="reqps"),
        Panel("p95 latency by entrypoint", "95th percentile of request latency for REST and gRPC: "
              "the difference is mostly JSON parsing and serialisation.",
              (Query(f"histogram_quantile(0.95, sum by (le, entrypoint) (rate({SUCCESS_LATENCY}{RATE})))",
                     legend("entrypoint")),), unit="µs"),
    ),
)

BATCHING = Dashboard(
    uid="tfs-batching",
    title="TF Serving / Batching",
    description="How requests are merged into batches (--enable_batching, compose/batching.conf). "
                "Red marks are alerts firing.",
    annotations=(ALERTS,),
    panels=(
        Panel("Average batch size (requests per batch)", "Requests per second divided by batches run "
              "per second. With one row per request this is the number of requests merged into each "
              "model run: 1 means batching does nothing; raise load or batch_timeout_micros to grow it.",
              (Query(f"sum(rate({REQUESTS}{RATE})) / sum(rate(:tensorflow:serving:batching_session:wrapped_run_count{RATE}))",
                     "requests per batch"),), no_data=NO_BATCHES),
        Panel("Average batch size (rows)", "Mean rows per batch actually run (processed) and per incoming "
              "request (input), from the batch size histograms. Processed size counts padding when "
              "allowed_batch_sizes is set.",
              (Query(ratio(":tensorflow:serving:batching_session:processed_batch_size_sum",
                           ":tensorflow:serving:batching_session:processed_batch_size_count"), "processed"),
               Query(ratio(":tensorflow:serving:batching_session:input_batch_size_sum",
                           ":tensorflow:serving:batching_session:input_batch_size_count"), "input")),
              no_data=NO_BATCHES),
        Panel("Processed batch sizes", "How often each batch size ran (histogram buckets 1, 2, 4, ... "
              "rows). A peak at max_batch_size means the server is saturated; a peak at 1 means "
              "requests rarely meet in the queue.",
              (Query("sum by (le) (increase(:tensorflow:serving:batching_session:processed_batch_size_bucket"
                     f"{RATE}))", legend("le")),), kind="heatmap", min=None, no_data=NO_BATCHES),
        Panel("Input batch sizes", "Rows per incoming request: how clients call the model. Clients that "
              "send many rows per request need less server-side batching.",
              (Query("sum by (le) (increase(:tensorflow:serving:batching_session:input_batch_size_bucket"
                     f"{RATE}))", legend("le")),), kind="heatmap", min=None, no_data=NO_BATCHES),
        Panel("Queuing latency (p50 / p95 / p99)", "Time a request waits in the batching queue before "
              "its batch runs: bounded by batch_timeout_micros when load is light, growing when "
              "num_batch_threads cannot keep up.",
              quantiles(":tensorflow:serving:batching_session:queuing_latency_bucket"), unit="µs", no_data=NO_BATCHES),
        Panel("Batches per second", "Model runs per second. Compare with requests per second: the "
              "ratio is the average batch size.",
              (Query(f"sum(rate(:tensorflow:serving:batching_session:wrapped_run_count{RATE}))", "batches/s"),),
              unit="ops", no_data=NO_BATCHES),
    ),
)

MODEL_LIFECYCLE = Dashboard(
    uid="tfs-lifecycle",
    title="TF Serving / Model lifecycle",
    description="Model versions loading, warming up and swapping. Orange marks are swaps posted by "
                "the swap scenario; purple marks are successful loads seen by Prometheus; red marks "
                "are alerts firing.",
    # A load counter appears at 1 when a version loads for the first time, which increase() does
    # not count (it sees no sample before it): new series count as loads too, for a minute.
    annotations=(Annotation("Version loaded", f"count(({LOADED} unless {LOADED} offset 1m) "
                                              f"or (increase({LOADED}[1m]) > 0))"), ALERTS),
    panels=(
        Panel("Versions loaded since start", "Model versions loaded successfully since the server "
              "started (TF Serving exports no gauge of the versions loaded right now: `make status` "
              "asks its status API for that). It grows by one at each swap.",
              (Query(f"count(count by (model_path) ({LOADED}))", "versions"),),
              kind="stat", width=6),
        Panel("Load attempts by version and outcome", "SavedModel loads per version path, successful or "
              "failed. A failed load keeps the previous version serving; its error is in the server log.",
              (Query(f"sum by (model_path, status) ({sel(LOADS, MODEL_PATH)})", legend("model_path", "status")),),
              width=18),
        Panel("Warmup time by version", "Time spent replaying assets.extra/tf_serving_warmup_requests "
              "before a version becomes AVAILABLE. Warmup moves the slow first requests (graph "
              "tracing, memory allocation) out of the traffic path.",
              (Query(f"sum by (model_path) ({sel(':tensorflow:serving:model_warmup_latency_sum', MODEL_PATH)}) / "
                     f"sum by (model_path) ({sel(':tensorflow:serving:model_warmup_latency_count', MODEL_PATH)})",
                     legend("model_path")),), unit="µs"),
        Panel("Request rate by status during swaps", "Requests per second by status. During an "
              "availability-preserving swap the new version warms up before taking traffic, so no "
              "error status should appear at the orange marks.",
              (Query(f"sum by (status) (rate({REQUESTS}{RATE}))", legend("status")),), unit="reqps"),
        Panel("p99 latency during swaps", "Tail latency around swaps: loading a version competes for "
              "CPU and memory (two versions are in memory at once), which may show as a bump here.",
              (Query(f"histogram_quantile(0.99, sum by (le) (rate({SUCCESS_LATENCY}{RATE})))", "p99"),),
              unit="µs", width=24),
    ),
)

LOADTEST = Dashboard(
    uid="tfs-loadtest",
    title="TF Serving / Load test (client side)",
    description="What the load generator measures (its exporter on LOADTEST_METRICS_PORT), next "
                "to what the server measures. Red marks are alerts firing (LoadGeneratorSaturated "
                "among them).",
    annotations=(ALERTS,),
    panels=(
        Panel("Simulated users", "Concurrent users the load generator runs right now.",
              (Query("sum(loadtest_users)", "users"),), kind="stat", width=6, height=6, no_data=NO_LOAD_GENERATOR),
        Panel("Client failure ratio", "Share of requests the client counted as failed (HTTP error, "
              "gRPC error or timeout).",
              (Query(ratio('loadtest_requests_total{outcome="failure"}', "loadtest_requests_total"), "failures"),),
              unit="percentunit", kind="stat", width=6, height=6, no_data=NO_LOAD_GENERATOR),
        Panel("Client requests per second", "Requests per second sent by the load generator, by "
              "protocol and outcome.",
              (Query("sum by (protocol, outcome) (rate(loadtest_requests_total[$__rate_interval]))",
                     legend("protocol", "outcome")),), unit="reqps", height=6, no_data=NO_LOAD_GENERATOR),
        Panel("Client latency (p50 / p95 / p99)", "Round-trip latency seen by the client, by protocol: "
              "includes the network, client serialisation and connection handling.",
              quantiles("loadtest_request_latency_seconds_bucket", by="protocol"), unit="s",
              no_data=NO_LOAD_GENERATOR),
        Panel("Client vs server p95 latency", "The same percentile seen by the client and by TF "
              "Serving. The gap is time outside the server: network, client encoding, connection "
              "queues in the client.",
              (Query("histogram_quantile(0.95, sum by (le) (rate(loadtest_request_latency_seconds_bucket[$__rate_interval])))",
                     "client"),
               Query(f"histogram_quantile(0.95, sum by (le) (rate({SUCCESS_LATENCY}{RATE}))) / 1e6", "server")),
              unit="s", no_data=NO_LOAD_GENERATOR),
    ),
)

GPU = Dashboard(
    uid="tfs-gpu",
    title="TF Serving / GPU and CPU",
    description="GPU use from NVIDIA's DCGM exporter (compose gpu profile), with CPU use of the "
                "processes that export it as a fallback on CPU machines.",
    panels=(
        Panel("GPU utilisation", "Share of time a kernel ran on the GPU (DCGM_FI_DEV_GPU_UTIL). High "
              "utilisation does not mean the GPU is busy everywhere: see SM activity.",
              (Query("avg by (gpu) (DCGM_FI_DEV_GPU_UTIL)", "GPU " + legend("gpu"), needs_gpu=True),),
              unit="percent", max=100),
        Panel("SM activity", "Share of streaming multiprocessors with work (DCGM_FI_PROF_SM_ACTIVE): "
              "small batches leave most SMs idle even at 100% utilisation, which is why batching "
              "matters more on GPUs.",
              (Query("avg by (gpu) (DCGM_FI_PROF_SM_ACTIVE)", "GPU " + legend("gpu"), needs_gpu=True),),
              unit="percentunit", max=1),
        Panel("GPU memory used", "Framebuffer memory in use (DCGM_FI_DEV_FB_USED, MiB). TensorFlow "
              "reserves most of it at start unless TF_FORCE_GPU_ALLOW_GROWTH=true.",
              (Query("sum by (gpu) (DCGM_FI_DEV_FB_USED)", "GPU " + legend("gpu"), needs_gpu=True),),
              unit="decmbytes"),
        Panel("CPU used by exporting processes", "CPU cores used by each scraped process that exports "
              "process_cpu_seconds_total (Prometheus, the load generator, the embedded server when it "
              "does). TF Serving in Docker does not export it: there, compare with `docker stats`.",
              (Query("sum by (job) (rate(process_cpu_seconds_total[$__rate_interval]))", legend("job")),)),
        Panel("Requests per second", "Model traffic, to put the resource graphs in context.",
              (Query(f"sum(rate({REQUESTS}{RATE}))", "requests/s"),), unit="reqps", width=24, height=6),
    ),
)

# The SLOs (.env SLO_AVAILABILITY and SLO_P99_MS, recorded by compose/rules/slo.yml) over the
# period of the burn-rate alerts in compose/rules/alerts.yml: a burn rate of 1 spends the error
# budget in exactly SLO_PERIOD; FAST_BURN pages (2% of it in an hour), SLOW_BURN opens a ticket
# (5% in six hours). tests/dashboards checks that the alerts use the same factors.
SLO_PERIOD = "30d"
FAST_BURN, SLOW_BURN = 14.4, 6.0
# The budgets, as divisors: the share of requests that may fail, and the 1% of requests that may
# be slower than the latency objective (it is a p99 objective).
ERROR_BUDGET = "on () group_left () (1 - slo:availability:objective)"
LATENCY_BUDGET = "0.01"
BURN_COLOURS = ((None, "green"), (SLOW_BURN, "orange"), (FAST_BURN, "red"))
BUDGET_COLOURS = ((None, "red"), (0.0, "orange"), (0.25, "green"))


def burn_rate(ratio: str, window: str, budget: str) -> str:
    """How many times faster than sustainable a recorded ratio spends its budget."""
    return f"{sel(f'{ratio}:rate{window}', M)} / {budget}"


FAST_WINDOWS = ("5m", "1h")  # the fast-burn alerts' short and long windows; the slow ones: 30m, 6h


def burn_rates(ratio: str, budget: str, windows: tuple[str, ...]) -> tuple[Query, ...]:
    return tuple(Query(burn_rate(ratio, window, budget), f"{window} ({'fast' if window in FAST_WINDOWS else 'slow'})")
                 for window in windows)


def budget_remaining(ratio: str, budget: str) -> str:
    """Share of the budget left over the SLO period: the 5-minute ratio averaged over the period,
    one sample a minute, against the budget. `> -Inf` keeps every number but drops the NaN the rule
    records while the model has no traffic (0/0), which would poison the mean; so each minute with
    traffic counts once."""
    return f"1 - avg_over_time(({sel(f'{ratio}:rate5m', M)} > -Inf)[{SLO_PERIOD}:1m]) / {budget}"


SLO = Dashboard(
    uid="tfs-slo",
    title="TF Serving / SLOs",
    description="The availability and latency objectives of .env (SLO_AVAILABILITY, SLO_P99_MS): "
                "error budget left over the 30-day SLO period and how fast it burns, from the "
                "recording rules the alerts read (compose/rules/). Red marks are alerts firing.",
    annotations=(ALERTS,),
    panels=(
        Panel("Availability: error budget remaining (30 days)", "Share of the error budget (1 - "
              "SLO_AVAILABILITY: the requests that may fail) not yet spent over the SLO period. 100% "
              "means no request failed, 0% that failures used the whole budget, below 0 that the "
              "objective is missed. Each minute with traffic weighs the same (the 5-minute error ratio, "
              "sampled once a minute), so busy minutes count no more than quiet ones.",
              (Query(budget_remaining("model:error_ratio", ERROR_BUDGET), "remaining", instant=True),),
              unit="percentunit", kind="stat", width=6, height=6, min=None, thresholds=BUDGET_COLOURS),
        Panel("Availability: burn rate now", "How many times faster than sustainable the error "
              "budget is spent, over one hour (the fast-burn window: ErrorBudgetBurnFast pages above "
              "14.4 while the 5-minute rate agrees) and six hours (the slow-burn window: "
              "ErrorBudgetBurnSlow opens a ticket above 6 while the 30-minute rate agrees). 1 spends "
              "the budget in exactly 30 days.",
              burn_rates("model:error_ratio", ERROR_BUDGET, ("1h", "6h")),
              kind="stat", width=6, height=6, thresholds=BURN_COLOURS),
        Panel("Latency: error budget remaining (30 days)", "Share of the latency budget (the 1% of "
              "successful requests that may be slower than SLO_P99_MS) not yet spent over the SLO "
              "period; below 0 the p99 objective is missed. Minutes weigh the same, as for "
              "availability.",
              (Query(budget_remaining("model:slow_ratio", LATENCY_BUDGET), "remaining", instant=True),),
              unit="percentunit", kind="stat", width=6, height=6, min=None, thresholds=BUDGET_COLOURS),
        Panel("Latency: burn rate now", "How many times faster than sustainable requests slower than "
              "SLO_P99_MS use their 1% budget, over one hour (LatencyBudgetBurnFast pages above 14.4 "
              "while the 5-minute rate agrees) and six hours (LatencyBudgetBurnSlow opens a ticket "
              "above 6 while the 30-minute rate agrees).",
              burn_rates("model:slow_ratio", LATENCY_BUDGET, ("1h", "6h")),
              kind="stat", width=6, height=6, thresholds=BURN_COLOURS),
        Panel("Availability: burn rate by window", "The error-budget burn rate over the four windows "
              "of the alerts. The fast-burn alert needs both 1h and 5m above the red line (14.4), the "
              "slow-burn alert both 6h and 30m above the orange one (6): the long window proves the "
              "burn matters, the short one that it still goes on, so the alert stops soon after the "
              "errors do.",
              burn_rates("model:error_ratio", ERROR_BUDGET, ("5m", "30m", "1h", "6h")),
              thresholds=BURN_COLOURS),
        Panel("Latency: burn rate by window", "The latency-budget burn rate over the four windows of "
              "the alerts: the share of successful requests slower than SLO_P99_MS, divided by 1%. "
              "LatencyBudgetBurnFast needs 1h and 5m above the red line, LatencyBudgetBurnSlow 6h and "
              "30m above the orange one.",
              burn_rates("model:slow_ratio", LATENCY_BUDGET, ("5m", "30m", "1h", "6h")),
              thresholds=BURN_COLOURS),
        Panel("Error ratio against the budget", "Share of requests that failed over 5 minutes (any "
              "status but OK: a full queue, bad inputs, a missing version) next to the error budget "
              "it may average over the period, 1 - SLO_AVAILABILITY. Above the budget line the "
              "burn rate is above 1.",
              (Query(sel("model:error_ratio:rate5m", M), "error ratio (5m)"),
               Query("1 - slo:availability:objective", "budget (1 - SLO_AVAILABILITY)")),
              unit="percentunit"),
        Panel("p99 latency against the objective", "The p99 latency of successful inference requests "
              "over 5 minutes, next to SLO_P99_MS. Both come from the same histogram buckets as the "
              "slow share, so the p99 crosses the objective when the latency burn rate crosses 1.",
              (Query(sel("model:request_latency_p99_seconds:rate5m", M), "p99 (5m)"),
               Query("slo:latency_seconds:objective", "objective (SLO_P99_MS)")),
              unit="s"),
    ),
)

# file name (under dashboards/) -> dashboard
DASHBOARDS: dict[str, Dashboard] = {
    "serving-overview.json": SERVING_OVERVIEW,
    "batching.json": BATCHING,
    "model-lifecycle.json": MODEL_LIFECYCLE,
    "loadtest.json": LOADTEST,
    "gpu.json": GPU,
    "slo.json": SLO,
}
