"""Criteo's TSV format: label, the dense integers, the categorical hashes; tab-separated, blanks allowed.

Values that cannot be read (a dense value that is not an integer, a label other than 0/1) skip
their row and are counted; a line with the wrong number of columns stops the load, since it means
the file does not follow the schema at all.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import DataError
from .schema import Features, Schema

log = logging.getLogger(__name__)


def load_tsv(path: Path, schema: Schema, max_rows: int | None = None) -> Features:
    """Rows of a Criteo-format file (the first `max_rows` usable ones when given)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file {path} not found; pass the path of a Criteo-format TSV to --data")
    n_dense, n_columns = len(schema.dense), len(schema.columns)
    dense: list[list[float]] = []
    categorical: list[list[str]] = []
    labels: list[int] = []
    skipped = 0
    with path.open(encoding="utf-8", errors="replace", newline="") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip("\r\n")  # not strip(): trailing tabs are blank columns
            if not line:
                continue
            values = line.split("\t")
            if len(values) != n_columns:
                raise DataError(
                    f"{path}, line {number}: {len(values)} tab-separated columns, the schema expects {n_columns} "
                    f"(label, {n_dense} dense, {len(schema.categorical)} categorical); is this a Criteo-format file?"
                )
            try:
                label = int(values[0])
                row = [float(int(v)) if v else 0.0 for v in values[1 : 1 + n_dense]]
            except ValueError:
                skipped += 1
                continue
            if label not in (0, 1):
                skipped += 1
                continue
            labels.append(label)
            dense.append(row)
            categorical.append(values[1 + n_dense :])
            if max_rows is not None and len(labels) >= max_rows:
                break
    if skipped:
        log.warning("%s: skipped %d malformed rows", path, skipped)
    if not labels:
        raise DataError(f"{path}: no usable rows ({skipped} malformed skipped)")
    return Features(
        dense=np.asarray(dense, dtype=np.float32),
        categorical=np.asarray(categorical, dtype=str).reshape(len(labels), len(schema.categorical)),
        label=np.asarray(labels, dtype=np.int64),
        skipped=skipped,
    )
