"""The enterprise self-assessment reward ledger."""
