"""Converters from source datasets to verl's parquet layout (see docs/data.md)."""
