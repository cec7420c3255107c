"""Checkpoint signing keys: a local key file (development, tests), Azure Key Vault (production)."""
