"""Completions posted by institutions in idempotent batches."""
