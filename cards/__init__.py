"""Adaptive Cards (schema 1.5) built from domain objects with `microsoft-teams-cards`. Pure."""
