"""Imported only by the warm-up tests (`tests/test_start_up.py`), to see when warm-up runs."""
