"""`python -m devtools.app_package`: build the Teams app package."""

from devtools.app_package.cli import main

raise SystemExit(main())
