"""Evaluation bodies: registration, status history, negative list."""
