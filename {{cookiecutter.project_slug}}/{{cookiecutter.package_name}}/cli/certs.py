"""`certs`: a local CA, a server certificate and API keys for the secure setup, into certs/."""

from __future__ import annotations

from pathlib import Path

import click

from ..certs import DEFAULT_HOSTS


@click.command("certs")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("certs"), show_default=True)
@click.option("--host", "hosts", multiple=True, help="Extra DNS name or IP for the server certificate (repeatable).")
@click.option("--days", type=int, default=365, show_default=True, help="Validity of the server certificate.")
@click.option("--force", is_flag=True, help="Make a new CA, certificate and key even if they exist (keeps API keys).")
def certs_command(out: Path, hosts: tuple[str, ...], days: int, force: bool) -> None:
    """Make a local CA, a server certificate and an API key file in certs/ for TLS + API keys."""
    from ..certs import write_certs

    files = write_certs(out, DEFAULT_HOSTS + tuple(h for h in hosts if h not in DEFAULT_HOSTS), days, force)
    click.echo(f"certificates and keys in {out}/ (gitignored):")
    for path in files.values():
        click.echo(f"  {path}")
    click.echo("\nclients: export SERVING_CA_FILE=certs/ca.pem SERVING_API_KEY_FILE=certs/api_keys.txt\n"
               "embedded server: --ssl_cert_file=certs/server.pem --ssl_key_file=certs/server-key.pem "
               "--api_keys_file=certs/api_keys.txt\n"
               "docker compose: --profile secure (see compose/README.md)")
