"""Features for the CTR model: the schema, a synthetic generator and a Criteo TSV loader."""

from .schema import Features, Schema, load_schema

__all__ = ["Features", "Schema", "load_schema"]
