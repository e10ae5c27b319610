"""Bulk import of the existing stock of certificates (CSV or XLSX)."""
