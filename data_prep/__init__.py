"""Converters from source datasets to verl's parquet layout (see README "Preparing data")."""
