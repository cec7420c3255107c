"""Test support: real local stand-ins for the remote parts (connector, token keys)."""
