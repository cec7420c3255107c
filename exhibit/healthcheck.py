"""`python -m exhibit.healthcheck`: the container's HEALTHCHECK, standard library only.

Exits 0 when `GET /healthz` on this container's own port answers 200, else 1. It imports
nothing but the standard library, so it stays cheap to run every 30 seconds.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

TIMEOUT_SECONDS = 3.0


def main() -> int:
    """Ask the local service whether it is up."""
    port = os.environ.get("PORT", "8080")
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            return 0 if response.status == 200 else 1
    except (OSError, urllib.error.URLError) as err:
        print(f"unhealthy: {type(err).__name__}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
