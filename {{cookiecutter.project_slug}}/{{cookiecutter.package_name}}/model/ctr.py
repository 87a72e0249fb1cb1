"""The CTR model: field tokens -> FieldAttention blocks -> MLP -> click probability."""

from __future__ import annotations

import keras

from ..data.schema import CATEGORICAL, DENSE, Schema
from .attention import FieldAttention
from .tokens import FieldTokens


def build_model(
    schema: Schema,
    attention_blocks: int = 1,
    num_heads: int = 2,
    hidden_units: tuple[int, ...] = (64, 32),
    learning_rate: float = 3e-3,
) -> keras.Model:
    """A compiled model with inputs `dense` (float32) and `categorical` (raw string tokens)."""
    dense = keras.Input(shape=(len(schema.dense),), dtype="float32", name=DENSE)
    categorical = keras.Input(shape=(len(schema.categorical),), dtype="string", name=CATEGORICAL)
    tokens = FieldTokens(len(schema.dense), len(schema.categorical), schema.hash_buckets, schema.embedding_dim,
                         name="field_tokens")(dense, categorical)
    for block in range(attention_blocks):
        tokens = FieldAttention(num_heads=num_heads, key_dim=schema.embedding_dim, name=f"field_attention_{block}")(tokens)
    hidden = keras.layers.Flatten(name="flatten")(tokens)
    for layer, units in enumerate(hidden_units):  # named: "dense" is taken by the input
        hidden = keras.layers.Dense(units, activation="relu", name=f"hidden_{layer}")(hidden)
    probability = keras.layers.Dense(1, activation="sigmoid", name="probability")(hidden)
    model = keras.Model({DENSE: dense, CATEGORICAL: categorical}, probability, name="ctr")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.AUC(name="auc")],
    )
    return model
