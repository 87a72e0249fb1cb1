"""`canary`: roll a candidate version out on the running server, judged on a share of the traffic
(the toolkit's canary scenario, with this project's config, requests and locustfile). Exit status 0
when promoted, 1 when rolled back."""

from __future__ import annotations

from pathlib import Path

import click

from tfserving_loadtest.errors import CanaryError

from .. import settings
from .options import model_name_option, models_dir_option, prometheus_option, reports_dir_option, server_options


@click.command("canary")
@click.option("--candidate", type=click.IntRange(1), default=None,
              help="version to roll out [default: the newest published]")
@click.option("--rate", type=click.FloatRange(0, min_open=True), default=100, show_default=True,
              help="requests/s sent (open loop) during the canary, over both labels")
@click.option("--share", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2, show_default=True,
              help="share of the requests sent to the candidate (label canary); the rest go to label stable")
@click.option("--window", type=click.FloatRange(5), default=60, show_default=True,
              help="seconds of traffic the decision is based on")
@click.option("--warmup", type=click.FloatRange(0), default=None,
              help="seconds of traffic before the window [default: two scrape intervals + 2]")
@click.option("--max-error-increase", type=click.FloatRange(0, 1), default=0.001, show_default=True,
              help="roll back when the canary's error ratio exceeds stable's by more than this")
@click.option("--max-p99-ratio", type=click.FloatRange(1), default=1.5, show_default=True,
              help="roll back when the canary's p99 exceeds stable's times this (plus --p99-slack-ms)")
@click.option("--p99-slack-ms", type=click.FloatRange(0), default=10, show_default=True,
              help="allowance on the p99 comparison: histogram buckets make p99s coarse")
@click.option("--min-requests", type=click.IntRange(1), default=200, show_default=True,
              help="requests each label needs in the window; fewer: no judgement, the candidate is rolled back")
@click.option("--users", type=click.IntRange(1), default=None,
              help="requests that may be in flight [default: twice the rate times SLO_P99_MS]")
@click.option("--apply-timeout", type=click.FloatRange(1), default=120, show_default=True,
              help="seconds the server gets to apply each models.config change (MODEL_CONFIG_POLL_SECONDS apart)")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=Path("compose/models.config"), show_default=True,
              help="the model config the running server polls")
@models_dir_option("published models")
@server_options("the running server")
@prometheus_option("the Prometheus that scrapes the load generator")
@click.option("--metrics-port", type=click.IntRange(1, 65535), envvar="LOADTEST_METRICS_PORT",
              default=settings.metrics_port, show_default="LOADTEST_METRICS_PORT",
              help="port of the load generator's metrics, which that Prometheus scrapes")
@reports_dir_option("the run writes <reports-dir>/<timestamp>-canary/")
@model_name_option("model to roll out (MODEL_NAME in .env)")
def canary_command(candidate: int | None, rate: float, share: float, window: float, warmup: float | None,
                   max_error_increase: float, max_p99_ratio: float, p99_slack_ms: float, min_requests: int,
                   users: int | None, apply_timeout: float, config_path: Path, models_dir: Path, host: str,
                   grpc_target: str, prometheus: str, metrics_port: int, reports_dir: Path, model_name: str) -> None:
    """Load the candidate beside the stable version, send it --share of the traffic, compare its
    error ratio and p99 with stable's in Prometheus over --window, then promote it (label stable ->
    candidate) or roll it back (candidate unloaded). Every change is a models.config edit the
    server applies without a restart; clients name the label `stable`."""
    import os

    from tfserving_loadtest import canary_policy
    from tfserving_loadtest.scenarios import canary

    from ..loadtest import REQUESTS, preflight

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow builds the probe requests: no start-up chatter
    preflight.check_rest(host.rstrip("/"), model_name)  # this project's signature, before the toolkit's checks
    summary = canary.run(canary.CanaryOptions(
        config_path=config_path, base_path=models_dir / model_name, model_name=model_name, rest_url=host.rstrip("/"),
        grpc_target=grpc_target, prometheus=prometheus.rstrip("/"), requests=REQUESTS, slo_ms=settings.slo_p99_ms(),
        locustfile=settings.CANARY_LOCUSTFILE, candidate=candidate, rate=rate, share=share, window=window,
        warmup=warmup, users=users or 0, apply_timeout=apply_timeout, metrics_port=metrics_port,
        reports_dir=reports_dir,
        thresholds=canary_policy.Thresholds(max_error_increase=max_error_increase, max_p99_ratio=max_p99_ratio,
                                            p99_slack_ms=p99_slack_ms, min_requests=min_requests),
    ))
    if summary["decision"] != canary_policy.PROMOTE:
        raise CanaryError(f"version {summary['candidate_version']} rolled back; version {summary['serving_stable']} "
                          f"stays stable (report: {summary['run_dir']})")
