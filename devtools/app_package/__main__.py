"""`python -m devtools.app_package`: build the Teams app package."""

from devtools.app_package.build import main

raise SystemExit(main())
