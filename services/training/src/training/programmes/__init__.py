"""Programmes (training domains by year) and their person-times quotas."""
