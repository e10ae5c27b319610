"""Training institutions and their sites."""
