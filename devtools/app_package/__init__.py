"""Exhibit's Teams app package builder: `python -m devtools.app_package --help`."""
