"""Data: sources, the builtin generator, splits, provenance and quality rules."""
