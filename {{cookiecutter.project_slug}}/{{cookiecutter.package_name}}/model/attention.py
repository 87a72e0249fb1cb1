"""FieldAttention: multi-head self-attention across a row's field tokens (AutoInt-style)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ctr")
class FieldAttention(keras.layers.Layer):
    """Each field token attends to every other, so the model can learn interactions between fields.

    Input and output: [batch, fields, dim]. A residual connection keeps each field's own embedding;
    layer normalization keeps stacked blocks stable.
    """

    def __init__(self, num_heads: int = 2, key_dim: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.key_dim = key_dim

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        dim = input_shape[-1]
        projection = (dim, self.num_heads, self.key_dim)
        self.query = self.add_weight(name="query", shape=projection, initializer="glorot_uniform")
        self.key = self.add_weight(name="key", shape=projection, initializer="glorot_uniform")
        self.value = self.add_weight(name="value", shape=projection, initializer="glorot_uniform")
        self.combine = self.add_weight(name="combine", shape=(self.num_heads, self.key_dim, dim), initializer="glorot_uniform")
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.norm.build(input_shape)

    def call(self, tokens: Any) -> Any:
        query = ops.einsum("bfd,dhk->bhfk", tokens, self.query)
        key = ops.einsum("bfd,dhk->bhfk", tokens, self.key)
        value = ops.einsum("bfd,dhk->bhfk", tokens, self.value)
        scores = ops.einsum("bhfk,bhgk->bhfg", query, key) / (self.key_dim**0.5)
        attended = ops.einsum("bhfg,bhgk->bfhk", ops.softmax(scores, axis=-1), value)
        return self.norm(tokens + ops.einsum("bfhk,hkd->bfd", attended, self.combine))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim}
