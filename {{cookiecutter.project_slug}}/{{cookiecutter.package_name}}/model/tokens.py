"""FieldTokens: turns a row's raw features into one token (embedding vector) per field.

Hashing happens here, inside the model, so clients send Criteo's raw tokens and training and
serving can never disagree on the vocabulary. One hash of the whole [batch, fields] string tensor
plus a per-field offset gives every field its own range of one shared embedding table: a single
vectorized lookup instead of one per field.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="ctr")
class FieldTokens(keras.layers.Layer):
    """([batch, dense] float, [batch, categorical] string) -> [batch, dense + categorical, dim]."""

    def __init__(self, num_dense: int, num_categorical: int, hash_buckets: int, embedding_dim: int,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_dense = num_dense
        self.num_categorical = num_categorical
        self.hash_buckets = hash_buckets
        self.embedding_dim = embedding_dim

    def build(self, input_shape: Any) -> None:
        rows = self.num_categorical * self.hash_buckets
        self.embeddings = self.add_weight(name="embeddings", shape=(rows, self.embedding_dim), initializer="uniform")
        # Dense field i becomes log1p(x_i) * scale_i + shift_i: a token in the same space as the embeddings.
        self.scale = self.add_weight(name="scale", shape=(self.num_dense, self.embedding_dim), initializer="glorot_uniform")
        self.shift = self.add_weight(name="shift", shape=(self.num_dense, self.embedding_dim), initializer="zeros")

    def call(self, dense: Any, categorical: Any) -> Any:
        # Counts are heavy-tailed and Criteo has a few negative values: clamp, then compress.
        scaled = ops.log1p(ops.maximum(dense, 0.0))
        dense_tokens = ops.expand_dims(scaled, -1) * self.scale + self.shift
        buckets = tf.strings.to_hash_bucket_fast(categorical, self.hash_buckets)
        offsets = tf.range(self.num_categorical, dtype=tf.int64) * self.hash_buckets
        categorical_tokens = ops.take(self.embeddings, buckets + offsets, axis=0)
        return ops.concatenate([dense_tokens, categorical_tokens], axis=1)

    def compute_output_shape(self, dense_shape: tuple[int | None, ...],
                             categorical_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (dense_shape[0], self.num_dense + self.num_categorical, self.embedding_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_dense": self.num_dense,
            "num_categorical": self.num_categorical,
            "hash_buckets": self.hash_buckets,
            "embedding_dim": self.embedding_dim,
        }
