"""Classes: runs of a programme by an institution."""
