"""The Exhibit service: settings, the composition root, the start command, health endpoints."""
