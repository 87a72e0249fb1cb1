"""Criteo-like synthetic rows with a planted signal, so training and load tests need no download.

A fixed "world" (vocabularies, blank rates, effects) is derived from the schema alone; `seed` only
picks the rows. Training data and load-test payloads drawn with different seeds therefore share
tokens, as real traffic shares them with the training set.

The click probability is sigmoid of: per-token effects on some fields, a few dense effects and,
for a few pairs of fields, an effect of the token *pair* that neither token carries alone (the
kind of interaction the model's attention across fields is there to find).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .schema import Features, Schema

WORLD_SEED = 20_240_611
TARGET_CTR = 0.22  # Criteo's display-ads sets are around 25%
TOP_TOKENS = 12  # pair effects exist among the most frequent tokens of each field in a pair


@dataclass(frozen=True)
class _Field:
    vocabulary: np.ndarray  # str, most frequent first
    probabilities: np.ndarray  # Zipf-like
    blank_rate: float
    effects: np.ndarray  # logit effect per token (zeros for uninformative fields)


@dataclass(frozen=True)
class _World:
    fields: tuple[_Field, ...]
    dense_mu: np.ndarray  # lognormal parameters of each dense count
    dense_sigma: np.ndarray
    dense_missing: np.ndarray
    dense_effects: np.ndarray  # logit effect per unit of log1p(count) - mu
    pairs: tuple[tuple[int, int, np.ndarray], ...]  # (field a, field b, TOP_TOKENS x TOP_TOKENS effects)
    bias: float


def _tokens(rng: np.random.Generator, size: int) -> np.ndarray:
    values = dict.fromkeys(int(v) for v in rng.integers(0, 2**32, size * 2, dtype=np.uint64))
    return np.array([f"{v:08x}" for v in list(values)[:size]], dtype="<U8")


@functools.lru_cache(maxsize=4)
def _world(schema: Schema) -> _World:
    rng = np.random.default_rng(WORLD_SEED)
    fields = []
    for index in range(len(schema.categorical)):
        size = int(np.exp(rng.uniform(np.log(4), np.log(3000))))
        ranks = np.arange(1, size + 1)
        probabilities = ranks ** -rng.uniform(0.9, 1.3)
        informative = index % 3 == 0
        effects = rng.normal(0.0, 0.5, size) if informative else np.zeros(size)
        blank_rate = float(rng.choice([0.0, 0.0, 0.0, 0.05, 0.2, 0.45]))
        fields.append(_Field(_tokens(rng, size), probabilities / probabilities.sum(), blank_rate, effects))
    n_dense = len(schema.dense)
    dense_effects = np.zeros(n_dense)
    dense_effects[:: max(1, n_dense // 4)] = rng.choice([-0.5, 0.4, 0.6], len(dense_effects[:: max(1, n_dense // 4)]))
    order = rng.permutation(len(schema.categorical))
    pairs = tuple(
        (int(a), int(b), rng.normal(0.0, 1.3, (TOP_TOKENS, TOP_TOKENS)))
        for a, b in zip(order[0:6:2], order[1:6:2])
    )
    world = _World(
        fields=tuple(fields),
        dense_mu=rng.uniform(0.0, 4.0, n_dense),
        dense_sigma=rng.uniform(0.5, 1.5, n_dense),
        dense_missing=rng.choice([0.0, 0.02, 0.1, 0.4], n_dense),
        dense_effects=dense_effects,
        pairs=pairs,
        bias=0.0,
    )
    # Calibrate the bias so that the average click rate is realistic.
    _, _, _, logits = _sample(world, 20_000, np.random.default_rng(WORLD_SEED + 1))
    low, high = -10.0, 10.0
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (middle, high) if _sigmoid(logits + middle).mean() < TARGET_CTR else (low, middle)
    return _World(**{**world.__dict__, "bias": (low + high) / 2})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _sample(world: _World, rows: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    logits = np.full(rows, world.bias)
    indices = np.empty((rows, len(world.fields)), dtype=np.int64)
    categorical = np.empty((rows, len(world.fields)), dtype="<U8")
    for j, field in enumerate(world.fields):
        index = rng.choice(len(field.vocabulary), size=rows, p=field.probabilities)
        blank = rng.random(rows) < field.blank_rate
        index[blank] = -1
        indices[:, j] = index
        categorical[:, j] = np.where(blank, "", field.vocabulary[index])
        logits += np.where(blank, 0.0, field.effects[index])
    for a, b, effects in world.pairs:
        ia, ib = indices[:, a], indices[:, b]
        both = (ia >= 0) & (ia < TOP_TOKENS) & (ib >= 0) & (ib < TOP_TOKENS)
        logits[both] += effects[ia[both], ib[both]]
    log_counts = rng.normal(world.dense_mu, world.dense_sigma, (rows, len(world.dense_mu)))
    counts = np.floor(np.expm1(np.clip(log_counts, 0.0, None)))
    missing = rng.random(counts.shape) < world.dense_missing
    counts[missing] = 0.0
    logits += ((np.log1p(counts) - world.dense_mu) * world.dense_effects).sum(axis=1)
    return counts.astype(np.float32), categorical, indices, logits


def generate(schema: Schema, rows: int, seed: int) -> Features:
    """`rows` Criteo-like rows; the same (schema, rows, seed) always gives the same rows."""
    if rows < 1:
        raise ValueError(f"rows must be at least 1, got {rows}")
    world = _world(schema)
    rng = np.random.default_rng(seed)
    dense, categorical, _, logits = _sample(world, rows, rng)
    label = (rng.random(rows) < _sigmoid(logits)).astype(np.int64)
    return Features(dense=dense, categorical=categorical, label=label)


def true_click_probability(schema: Schema, rows: int, seed: int) -> np.ndarray:
    """The planted probabilities behind generate(schema, rows, seed): the best any model can do."""
    world = _world(schema)
    *_, logits = _sample(world, rows, np.random.default_rng(seed))
    return _sigmoid(logits)
