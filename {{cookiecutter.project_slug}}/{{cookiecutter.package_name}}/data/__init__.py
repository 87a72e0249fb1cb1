"""Features for the CTR model: the schema, a synthetic generator and a Criteo TSV loader."""

from .schema import DataError, Features, Schema, load_schema

__all__ = ["DataError", "Features", "Schema", "load_schema"]
