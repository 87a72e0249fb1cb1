"""Validate the answers before anything is rendered.

Cookiecutter runs this file after substituting the answers into it; exiting non-zero
aborts generation, so a bad answer never produces a half-working project.
"""

from __future__ import annotations

import keyword
import re
import sys

ANSWERS = {
    "project_slug": "{{ cookiecutter.project_slug }}",
    "package_name": "{{ cookiecutter.package_name }}",
    "model_name": "{{ cookiecutter.model_name }}",
    "rest_port": "{{ cookiecutter.rest_port }}",
    "grpc_port": "{{ cookiecutter.grpc_port }}",
    "prometheus_port": "{{ cookiecutter.prometheus_port }}",
    "grafana_port": "{{ cookiecutter.grafana_port }}",
    "tfserving_version": "{{ cookiecutter.tfserving_version }}",
    "use_gpu": "{{ cookiecutter.use_gpu }}",
    "max_batch_size": "{{ cookiecutter.max_batch_size }}",
    "batch_timeout_micros": "{{ cookiecutter.batch_timeout_micros }}",
    "num_batch_threads": "{{ cookiecutter.num_batch_threads }}",
    "max_enqueued_batches": "{{ cookiecutter.max_enqueued_batches }}",
}

PORTS = ("rest_port", "grpc_port", "prometheus_port", "grafana_port")
# The ports .env fixes for the other services: the load generator's metrics, Alertmanager and the
# alert receiver, Locust's web UI, HAProxy's stats page and runtime API. An answer may not take one
# (tests/test_hooks.py keeps this table in step with the rendered .env).
FIXED_PORTS = {
    9646: "LOADTEST_METRICS_PORT",
    9093: "ALERTMANAGER_PORT",
    9095: "ALERT_WEBHOOK_PORT",
    8089: "LOCUST_WEB_PORT",
    8404: "BALANCER_PORT",
    9999: "BALANCER_ADMIN_PORT",
}
POSITIVE_INTS = ("max_batch_size", "num_batch_threads", "max_enqueued_batches")


def problems(answers: dict[str, str]) -> list[str]:
    found: list[str] = []
    package = answers["package_name"]
    if not package.isidentifier() or keyword.iskeyword(package) or package != package.lower():
        found.append(
            f"package_name {package!r} is not a lower-case Python identifier; "
            "try something like 'ctr_serving'"
        )
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", answers["project_slug"]):
        found.append(
            f"project_slug {answers['project_slug']!r} must be lower-case letters, digits and '-'"
        )
    # The model name appears in URL paths (/v1/models/<name>) and in directory names.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", answers["model_name"]) or ".." in answers["model_name"]:
        found.append(
            f"model_name {answers['model_name']!r} is not URL-safe; use letters, digits, '_', '-' or '.'"
        )
    ports: dict[int, str] = {}
    for name in PORTS:
        value = answers[name]
        if not value.isdigit() or not 1 <= int(value) <= 65535:
            found.append(f"{name} {value!r} is not a port number between 1 and 65535")
            continue
        if int(value) in ports:
            found.append(f"{name} {value} clashes with {ports[int(value)]}; every service needs its own port")
        elif int(value) in FIXED_PORTS:
            found.append(f"{name} {value} clashes with {FIXED_PORTS[int(value)]} (fixed in .env); "
                         "every service needs its own port")
        ports[int(value)] = name
    for name in POSITIVE_INTS:
        if not answers[name].isdigit() or int(answers[name]) < 1:
            found.append(f"{name} {answers[name]!r} must be a positive integer")
    if not answers["batch_timeout_micros"].isdigit():
        found.append(f"batch_timeout_micros {answers['batch_timeout_micros']!r} must be a non-negative integer")
    if not re.fullmatch(r"\d+\.\d+\.\d+", answers["tfserving_version"]):
        found.append(
            f"tfserving_version {answers['tfserving_version']!r} must be a release like 2.21.0 "
            "(the -gpu suffix is added when use_gpu is yes)"
        )
    if answers["use_gpu"] not in ("yes", "no"):
        found.append(f"use_gpu {answers['use_gpu']!r} must be 'yes' or 'no'")
    return found


if __name__ == "__main__":
    errors = problems(ANSWERS)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    sys.exit(1 if errors else 0)
