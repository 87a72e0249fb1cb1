"""The feature schema (schema.yaml) and the in-memory form of a data set (`Features`)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import DataError

DEFAULT_SCHEMA = Path(__file__).resolve().parent.parent / "schema.yaml"
# The model's two inputs, which the serving signature takes by the same names: the dense fields as
# floats, the categorical fields as raw string tokens (hashed in the graph).
DENSE, CATEGORICAL = "dense", "categorical"


@dataclass(frozen=True)
class Schema:
    label: str
    dense: tuple[str, ...]
    categorical: tuple[str, ...]
    hash_buckets: int
    embedding_dim: int

    @property
    def columns(self) -> tuple[str, ...]:
        """Criteo's column order: label, dense fields, categorical fields."""
        return (self.label, *self.dense, *self.categorical)


@dataclass(frozen=True)
class Features:
    """Rows in the model's input layout; `skipped` counts malformed rows dropped by a loader."""

    dense: np.ndarray  # float32 [n, len(schema.dense)], blanks as 0
    categorical: np.ndarray  # str [n, len(schema.categorical)], blanks as ""
    label: np.ndarray  # int [n], 0 or 1
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.label)

    def inputs(self) -> dict[str, np.ndarray]:
        """The model's (and the serving signature's) named inputs."""
        return {DENSE: self.dense, CATEGORICAL: self.categorical}

    def take(self, rows: np.ndarray | slice) -> Features:
        return Features(self.dense[rows], self.categorical[rows], self.label[rows])

    def fingerprint(self) -> str:
        """sha256 over the values, so evaluation reports and exports name the exact data."""
        digest = hashlib.sha256()
        digest.update(np.ascontiguousarray(self.dense, dtype=np.float32).tobytes())
        digest.update("\t".join(self.categorical.ravel().tolist()).encode())
        digest.update(np.ascontiguousarray(self.label, dtype=np.int64).tobytes())
        return "sha256:" + digest.hexdigest()


def _names(raw: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    names = raw.get(key)
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise DataError(f"{path}: `{key}` must be a non-empty list of field names")
    return tuple(names)


def load_schema(path: Path | None = None) -> Schema:
    """Read schema.yaml (the package's own unless `path` is given); errors name the file and key."""
    path = Path(path) if path is not None else DEFAULT_SCHEMA
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise DataError(f"schema file {path} not found") from None
    except yaml.YAMLError as error:
        raise DataError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(raw, dict):
        raise DataError(f"{path}: expected a mapping with label, dense, categorical and model")
    label = raw.get("label")
    if not isinstance(label, str) or not label:
        raise DataError(f"{path}: `label` must be the label column's name")
    dense, categorical = _names(raw, "dense", path), _names(raw, "categorical", path)
    every = [label, *dense, *categorical]
    duplicates = sorted({n for n in every if every.count(n) > 1})
    if duplicates:
        raise DataError(f"{path}: field names must be unique; repeated: {', '.join(duplicates)}")
    model = raw.get("model") or {}
    settings = {}
    for key in ("hash_buckets", "embedding_dim"):
        value = model.get(key) if isinstance(model, dict) else None
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DataError(f"{path}: `model.{key}` must be a positive integer")
        settings[key] = value
    return Schema(label=label, dense=dense, categorical=categorical, **settings)
