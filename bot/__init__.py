"""The Teams-facing service: HTTP endpoints, activity handling, wording, composition."""
