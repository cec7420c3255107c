"""The command line: `python -m devtools.app_package [--out DIR] [--bot-app-id GUID] ...`.

Values come from `EXHIBIT_*` environment variables; each has an option that overrides it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from devtools.app_package.build import build_package
from devtools.app_package.errors import AppPackageError
from devtools.app_package.manifest import SCHEMAS_DIR
from devtools.app_package.settings import OPTIONS, load_package_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.app_package",
        description="Build the Teams app package (manifest.json, color.png, outline.png) "
        "as DIR/exhibit-<version>.zip. Each option overrides the environment variable named "
        "in its help.",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("dist"), metavar="DIR", help="output folder (dist)"
    )
    helps = {
        "EXHIBIT_BOT_APP_ID": "the bot's Entra application (client) ID; required",
        "EXHIBIT_TEAMS_APP_ID": "the Teams app id (default: the bot's app id)",
        "EXHIBIT_PUBLIC_HOST": "the bot's public host name, e.g. exhibit.force.example; required",
        "EXHIBIT_APP_DEVELOPER_URL": "developer website (default: https://HOST/)",
        "EXHIBIT_APP_PRIVACY_URL": "privacy statement (default: https://HOST/privacy)",
        "EXHIBIT_APP_TERMS_URL": "terms of use (default: https://HOST/terms)",
        "EXHIBIT_APP_VERSION": "app version MAJOR.MINOR.PATCH (default: pyproject's)",
    }
    for variable, option in OPTIONS.items():
        parser.add_argument(
            option, dest=variable, metavar="VALUE", help=f"{helps[variable]} [{variable}]"
        )
    parser.add_argument(
        "--schemas",
        type=Path,
        default=SCHEMAS_DIR,
        metavar="DIR",
        help="folder holding teams/v1.NN/MicrosoftTeams.schema.json (default: node_modules)",
    )
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Command line entry point: build the package, print its path; exit 1 on any problem."""
    args = _parser().parse_args(argv)
    values = dict(os.environ if env is None else env)
    values.update({k: v for k, v in vars(args).items() if k in OPTIONS and v is not None})
    try:
        path = build_package(load_package_settings(values), args.out, schemas_dir=args.schemas)
    except AppPackageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(path)
    return 0
