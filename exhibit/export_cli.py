"""`python -m exhibit custody-export`: an admin writes a case's continuity bundle to a file.

For handing a bundle over outside Teams (a court's portal, a disclosure officer's media). The
admin names themselves (`--by`, their Entra object id, checked in the directory: an enabled
admin), the recipient (`--to`) and the reason; the export is recorded on the case's chain as
`custody.exported`, like one delivered in Teams.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from documents.bundle import BuiltBundle
from documents.export import BundleSources, build_bundle
from evidence.continuity import (
    Disclosure,
    ExportLookup,
    ExportRequest,
    open_export,
    read_reason,
    record_export,
)
from evidence.errors import AccessRefused, CaseNotFound, ExhibitError, InvalidInput
from evidence.model import Case, ExhibitRef
from evidence.officers import Role
from evidence.records import RecordsUnit, run_unit
from exhibit.composition import (
    open_blobs,
    open_checkpoint_signer,
    open_directory,
    open_identity,
)
from exhibit.settings import Settings
from storage.checkpoints import BlobCheckpointStore
from storage.database import create_engine, entra_password
from storage.evidence_store import BlobEvidenceStore
from storage.records import SqlRecords

VIA = "command line"


@dataclass(frozen=True, slots=True)
class ExportOrder:
    """What the admin asked for on the command line."""

    case_reference: str
    exhibits: tuple[ExhibitRef, ...]
    with_files: bool
    reason: str
    to: str
    by: str
    out: Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The `custody-export` options."""
    parser.add_argument("case", help="the case reference, e.g. MET-24-0001")
    parser.add_argument("--exhibit", action="append", default=[], metavar="REF",
                        help="focus the statement on this exhibit (repeat for more)")  # fmt: skip
    parser.add_argument("--with-files", action="store_true", help="include the exhibit files")
    parser.add_argument("--reason", required=True, help="why the bundle is disclosed")
    parser.add_argument("--to", required=True, help="who receives it (person, organisation)")
    parser.add_argument("--by", required=True, metavar="OBJECT_ID",
                        help="your Entra object id (an admin in the directory)")  # fmt: skip
    parser.add_argument("--out", required=True, type=Path, help="the ZIP file to write")


def read_order(args: argparse.Namespace) -> ExportOrder:
    """The order from parsed arguments; `InvalidInput` names what is wrong."""
    reason = read_reason(args.reason)
    to = read_reason(args.to)
    if reason is None or to is None:
        raise InvalidInput("--reason/--to", "give both a reason and a recipient")
    return ExportOrder(
        case_reference=str(args.case).upper(),
        exhibits=tuple(ExhibitRef.parse(ref) for ref in args.exhibit),
        with_files=bool(args.with_files),
        reason=reason,
        to=to,
        by=str(args.by),
        out=Path(args.out),
    )


async def export_to_file(settings: Settings, order: ExportOrder) -> BuiltBundle:
    """Build the bundle into `order.out` and record the disclosure."""
    async with contextlib.AsyncExitStack() as resources:
        directory, close_directory = await open_directory(settings)
        resources.push_async_callback(close_directory)
        officer = await directory.officer(order.by, fresh=True)
        if officer is None or not officer.enabled or not officer.has(Role.ADMIN):
            raise AccessRefused("--by must name an enabled admin in the directory")
        identity = await open_identity(settings, resources)
        engine = create_engine(
            settings.database_url.get_secret_value(),
            password=entra_password(identity)
            if settings.database_entra_auth and identity is not None
            else None,
        )
        resources.push_async_callback(engine.dispose)
        records = SqlRecords(engine)
        blobs = await open_blobs(settings, resources, identity)
        sources = BundleSources(
            BlobEvidenceStore(blobs),
            BlobCheckpointStore(blobs),
            await open_checkpoint_signer(settings, resources, identity),
        )
        request = ExportRequest(order.case_reference, order.exhibits, order.with_files,
                                order.reason)  # fmt: skip
        now = _now()

        async def nobody_else(_case: Case) -> frozenset[str]:
            return frozenset()  # an admin sees every case; the team does not matter here

        async def read(unit: RecordsUnit) -> ExportLookup:
            return await open_export(unit, officer, request, nobody_else, now=now)

        scope = (await run_unit(records, read)).scope
        if scope is None:
            raise CaseNotFound(order.case_reference)
        temporary = await asyncio.to_thread(_temporary_beside, order.out)
        try:
            built = await build_bundle(sources, scope, temporary, now=now)
            await asyncio.to_thread(temporary.replace, order.out)
        except BaseException:
            await asyncio.to_thread(temporary.unlink, missing_ok=True)
            raise
        await run_unit(
            records,
            lambda unit: record_export(
                unit,
                officer,
                Disclosure.of(scope, bundle_sha256=built.sha256, bundle_size=built.size),
                delivered_to=order.to,
                via=VIA,
                now=_now(),
            ),
        )
        return BuiltBundle(order.out, built.sha256, built.size, built.chain_ok)


def _temporary_beside(out: Path) -> Path:
    """A new empty file in `out`'s folder: the bundle is renamed into place once complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=".export-", suffix=".zip", dir=out.parent)
    os.close(handle)
    return Path(name)


def _now() -> datetime:
    return datetime.now(UTC)


def describe_error(err: ExhibitError) -> str:
    """One line for the admin's terminal."""
    if isinstance(err, InvalidInput):
        return f"{err.field}: {err.problem}"
    return f"{type(err).__name__}: {err}"
