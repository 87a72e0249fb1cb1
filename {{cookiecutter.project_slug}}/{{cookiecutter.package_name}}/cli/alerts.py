"""`alerts`: the webhook receiver Alertmanager notifies (`make serve` starts it)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import settings


@click.group("alerts")
def alerts_group() -> None:
    """Alerts: the webhook receiver that Alertmanager notifies."""


@alerts_group.command("receive")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0 in a container, for Alertmanager in another one).")
@click.option("--port", type=int, envvar="ALERT_WEBHOOK_PORT",
              default=lambda: settings.port("ALERT_WEBHOOK_PORT"), show_default="ALERT_WEBHOOK_PORT",
              help="Port to listen on (env ALERT_WEBHOOK_PORT, else .env).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("run/alerts.jsonl"),
              show_default=True, help="File each notification is appended to, one JSON object a line.")
def receive_command(host: str, port: int, out: Path) -> None:
    """Receive Alertmanager's webhook notifications at POST /alerts, append them to --out and list
    them at GET /alerts, until interrupted."""
    from ..stack.alert_receiver import serve

    click.echo(f"receiving Alertmanager notifications at http://{host}:{port}/alerts, appending to {out}")
    serve(host, port, out)
