"""`python -m exhibit`: run Exhibit's bot service (see `python -m exhibit --help`)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from aiohttp import web
from dotenv import dotenv_values

from evidence.errors import ExhibitError
from exhibit.log_config import configure_logging
from exhibit.settings import Settings, SettingsError, load_settings

DESCRIPTION = """\
Run Exhibit's bot service: POST /api/messages (Teams, through the Azure Bot Service),
GET /healthz (process up) and GET /readyz (database and storage reachable), with an
ingest worker inside. `python -m exhibit worker` runs one more ingest worker on its own;
`python -m exhibit custody-export --help` writes a case's continuity bundle to a file.

Settings come from the environment, and from a .env file in the working directory if
there is one (the environment wins). Every setting is listed in .env.example. The
service listens on EXHIBIT_HOST (default 127.0.0.1) and PORT (default 3978).
"""


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load settings and serve until interrupted."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["custody-export"]:
        return custody_export(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m exhibit",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "role",
        nargs="?",
        choices=("serve", "worker", "migrate"),
        default="serve",
        help="serve: the HTTP service, with an ingest worker inside unless EXHIBIT_RUN_WORKER="
        "false (default); worker: only an ingest worker, for scaling intake out; migrate: bring "
        "the database schema up to date and exit (run once per release, before new replicas)",
    )
    parser.add_argument(
        "--env-file",
        type=Path,
        default=Path(".env"),
        help="optional file of KEY=value settings (default: .env; ignored if absent)",
    )
    args = parser.parse_args(argv)
    env = _environment(args.env_file)
    settings = _load(env)
    if settings is None:
        return 2
    configure_logging(settings.log_level)
    if args.role != "migrate":
        from exhibit.telemetry import configure_telemetry

        configure_telemetry(env, role=args.role)
    from exhibit.composition import create_app, run_worker_alone  # SDKs load once settings are good

    if args.role == "migrate":
        from storage.migrate import upgrade_and_report

        revision = asyncio.run(
            upgrade_and_report(
                settings.database_url.get_secret_value(), entra=settings.database_entra_auth
            )
        )
        print(f"Database schema at revision {revision}.")
        return 0
    if args.role == "worker":
        asyncio.run(run_worker_alone(settings))
        return 0
    web.run_app(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        print=None,
        access_log=None,
    )
    return 0


def _environment(env_file: Path) -> dict[str, str]:
    env = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    env.update(os.environ)
    return env


def _load(env: dict[str, str]) -> Settings | None:
    try:
        return load_settings(env)
    except SettingsError as err:
        print(f"Exhibit cannot start: {err}", file=sys.stderr)
        return None


def custody_export(argv: list[str]) -> int:
    """`custody-export`: write a case's continuity bundle to a file, recorded as a disclosure."""
    from exhibit.export_cli import add_arguments, describe_error, export_to_file, read_order

    parser = argparse.ArgumentParser(
        prog="python -m exhibit custody-export",
        description="Write a case's continuity bundle (ZIP) to a file; recorded on the case's "
        "chain of custody as a disclosure (custody.exported).",
    )
    add_arguments(parser)
    parser.add_argument("--env-file", type=Path, default=Path(".env"))
    args = parser.parse_args(argv)
    settings = _load(_environment(args.env_file))
    if settings is None:
        return 2
    configure_logging(settings.log_level)
    try:
        built = asyncio.run(export_to_file(settings, read_order(args)))
    except ExhibitError as err:
        print(f"Not exported: {describe_error(err)}", file=sys.stderr)
        return 1
    print(f"{built.path}  {built.size} bytes  SHA-256 {built.sha256}")
    if not built.chain_ok:
        print("Warning: the chain does not verify; the statement says where.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
