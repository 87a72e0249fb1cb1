"""The CTR model and its custom layers (importing this registers them for `.keras` loading)."""

from .attention import FieldAttention
from .ctr import build_model
from .tokens import FieldTokens

__all__ = ["FieldAttention", "FieldTokens", "build_model"]
