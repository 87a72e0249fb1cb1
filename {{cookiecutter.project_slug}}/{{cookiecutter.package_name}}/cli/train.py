"""`train`: fit the CTR model and report its held-out AUC and log loss."""

from __future__ import annotations

from pathlib import Path

import click

from ..train import DEFAULT_ROWS, EVALUATION_FILE


@click.command("train")
@click.option("--data", type=click.Path(path_type=Path), default=None,
              help="Criteo-format TSV (label, 13 ints, 26 hashes); default: synthetic rows.")
@click.option("--rows", type=click.IntRange(min=50), default=None,
              help=f"Rows to use: synthetic rows to generate (default {DEFAULT_ROWS}) or the first N of --data (default all).")
@click.option("--epochs", type=click.IntRange(min=1), default=2, show_default=True, help="Passes over the training rows.")
@click.option("--batch-size", type=click.IntRange(min=1), default=512, show_default=True, help="Rows per training step.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the data, the split and the weights.")
@click.option("--artifacts-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("artifacts"),
              show_default=True, help="Where model.keras and evaluation.json are written.")
def train_command(data: Path | None, rows: int | None, epochs: int, batch_size: int, seed: int, artifacts_dir: Path) -> None:
    """Train the CTR model and report AUC and log loss on a held-out 20%."""
    from ..data.schema import load_schema
    from ..train import load_features, save_artifacts, train_model

    schema = load_schema()
    features, source = load_features(schema, data, rows, seed)
    if features.skipped:
        click.echo(f"{data}: skipped {features.skipped} malformed rows (non-integer dense value or label not 0/1)")
    click.echo(f"training on {len(features)} rows from {source}, click rate {features.label.mean():.3f}")
    trained = train_model(schema, features, epochs, batch_size, seed, verbose=2, data_source=source)
    path = save_artifacts(trained, artifacts_dir)
    figures = trained.evaluation
    click.echo(
        f"held-out AUC {figures['auc']:.4f}, log loss {figures['log_loss']:.4f} "
        f"({figures['rows']['held_out']} rows); trained in {figures['train_seconds']:.1f} s"
    )
    click.echo(f"wrote {path} and {artifacts_dir / EVALUATION_FILE}; next: `make export`")
