"""The continuity bundle, checked as a court would: verify.py, sha256sum, openssl, pdftotext.

A real case (the app, the worker, Azurite, SQLite) with two exhibits and signed checkpoints
(LocalKeySigner + BlobCheckpointStore, the real format) is exported by the admin command line;
the ZIP is then checked with standard tools only, and each kind of tampering is named.
"""

# The tests run the standard tools a court would, one after another: blocking is intended.
# ruff: noqa: ASYNC221, ASYNC240

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from evidence.checkpoints import Checkpoint, SignedCheckpoint
from evidence.custody import Action
from exhibit.export_cli import ExportOrder, export_to_file
from exhibit.settings import Settings, load_settings
from signing.local import LocalKeySigner, ensure_key_file
from storage.blobs import RegionalBlobServices
from storage.checkpoints import BlobCheckpointStore
from storage.records import SqlRecords
from tests.conftest import Azurite, ConversationFactory
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import Conversation, teams_file
from tests.support.people import JANE, PRIYA
from tests.test_evidence_store import services_for
from tests.test_intake import JPEG, PDF, Files
from tests.test_intake import files as files  # the fixture

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "export"
CASE = "MET-24-0001"


@pytest.fixture
def settings(base_env: dict[str, str], tmp_path: Path) -> Settings:
    return load_settings(
        {**base_env, "EXHIBIT_CHECKPOINT_KEY_FILE": str(tmp_path / "keys" / "checkpoint.pem")}
    )


@pytest.fixture
async def blobs(azurite: Azurite) -> AsyncIterator[RegionalBlobServices]:
    regional = services_for((r, azurite.connection_string(r)) for r in ("uksouth", "ukwest"))
    yield regional
    await regional.aclose()


async def make_case(conversation: Conversation, files: Files) -> None:
    """A case with two exhibits, one verified."""
    await conversation.say(f"case open {CASE} Burglary at 12 High Street")
    await conversation.say(f"add {CASE}", [teams_file("front door.jpg",
                                                      files.link("door.jpg", JPEG))])  # fmt: skip
    await conversation.wait_for_update("Exhibit JS/1")
    await conversation.say(f"add {CASE}", [teams_file("notes.pdf", files.link("n.pdf", PDF))])
    await conversation.wait_for_update("Exhibit JS/2")
    assert "matches" in await conversation.say(f"evidence verify {CASE} JS/1")


async def sign_checkpoints(
    settings: Settings, records: SqlRecords, blobs: RegionalBlobServices, *sequences: int
) -> None:
    """Checkpoints of the case chain at these sequences (0: its head), as the anchor signs them."""
    signer = LocalKeySigner.from_file(ensure_key_file(settings.checkpoint_key_file))
    async with records.unit() as unit:
        case = await unit.case_by_reference(CASE)
        assert case is not None
        chain = list(await unit.custody(case.id))
    store = BlobCheckpointStore(blobs)
    for sequence in sequences:
        entry = chain[(sequence or len(chain)) - 1]
        payload = Checkpoint(case.id, entry.sequence, entry.hash, entry.at, signer.key_id).payload()
        # The service checkpoints after intake and verification itself: one may be there already.
        await store.put(case.region, SignedCheckpoint(payload, await signer.sign(payload)))


def run(*command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (a test: fixed programs, files it wrote)
        list(command), cwd=cwd, capture_output=True, text=True, check=False
    )


def verify(bundle: Path) -> subprocess.CompletedProcess[str]:
    """verify.py as a third party runs it: isolated, no site-packages, standard library only."""
    return run(sys.executable, "-I", "-S", "verify.py", cwd=bundle)


def openssl_verify(bundle: Path, stem: str) -> subprocess.CompletedProcess[str]:
    openssl = shutil.which("openssl")
    assert openssl is not None
    return run(openssl, "dgst", "-sha256", "-verify", "public-key.pem", "-signature",
               f"checkpoints/{stem}.sig", f"checkpoints/{stem}.json", cwd=bundle)  # fmt: skip


def flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
async def exported(
    settings: Settings,
    converse: ConversationFactory,
    files: Files,
    records: SqlRecords,
    blobs: RegionalBlobServices,
    tmp_path: Path,
) -> Path:
    """The case's bundle with files, exported by Priya (admin) on the command line, unzipped."""
    await make_case(await converse(settings), files)
    await sign_checkpoints(settings, records, blobs, 2, 0)
    out = tmp_path / "out" / "bundle.zip"
    order = ExportOrder(CASE, (), True, "Crown Court disclosure", "CPS London", PRIYA.object_id,
                        out)  # fmt: skip
    built = await export_to_file(settings, order)
    assert built.path == out
    assert built.chain_ok
    assert hashlib.sha256(out.read_bytes()).hexdigest() == built.sha256
    async with records.unit() as unit:
        case = await unit.case_by_reference(CASE)
        assert case is not None
        last = list(await unit.custody(case.id))[-1]
    assert last.action == Action.CUSTODY_EXPORTED
    assert last.actor_name == PRIYA.name
    assert last.details["bundle_sha256"] == built.sha256
    assert last.details["to"] == "CPS London"
    assert last.details["reason"] == "Crown Court disclosure"
    assert last.details["with_files"] is True
    assert last.details["exhibits"] == ["JS/1", "JS/2"]
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist()[-1] == "manifest.sha256"
        archive.extractall(folder)
    return folder


async def test_the_bundle_verifies_with_standard_tools(exported: Path) -> None:
    names = sorted(str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file())
    # The test's own checkpoints (2 and 7) and those the service took after each decision.
    stems = sorted(p.stem for p in (exported / "checkpoints").glob("*.json"))
    assert {"000000000002", "000000000007"} <= set(stems)
    assert names == [
        "README.txt",
        *(f"checkpoints/{stem}.{kind}" for stem in stems for kind in ("json", "sig")),
        "continuity-statement.pdf",
        "custody.csv",
        "custody.jsonl",
        "files/JS-1_front_door.jpg",
        "files/JS-2_notes.pdf",
        "manifest.sha256",
        "public-key.pem",
        "verify.py",
    ]
    assert (exported / "files/JS-1_front_door.jpg").read_bytes() == JPEG
    checked = verify(exported)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "The bundle verifies." in checked.stdout
    assert (
        f"{len(stems)} agree with the chain and the key; signatures verified with openssl"
        in checked.stdout
    )
    summed = run("sha256sum", "-c", "manifest.sha256", cwd=exported)
    assert summed.returncode == 0, summed.stdout + summed.stderr
    assert summed.stdout.count(": OK") == len(names) - 1
    for stem in stems:
        signature = openssl_verify(exported, stem)
        assert signature.returncode == 0, signature.stdout + signature.stderr
        assert "Verified OK" in signature.stdout
    # The key fingerprint the README gives is the key_id inside every checkpoint.
    der = subprocess.run(  # noqa: S603
        [shutil.which("openssl") or "openssl", "pkey", "-pubin", "-in", "public-key.pem",
         "-outform", "DER"], cwd=exported, capture_output=True, check=True,
    ).stdout  # fmt: skip
    key_id = hashlib.sha256(der).hexdigest()
    assert key_id in (exported / "README.txt").read_text("utf-8")
    assert json.loads((exported / "checkpoints/000000000007.json").read_bytes())["key_id"] == key_id
    # custody.csv: one row per entry, with UK local time.
    rows = (exported / "custody.csv").read_text("utf-8").splitlines()
    assert len(rows) == 1 + 7
    assert "GMT" in rows[1] or "BST" in rows[1]


async def test_one_flipped_byte_in_the_chain_is_found_and_located(exported: Path) -> None:
    jsonl = exported / "custody.jsonl"
    lines = jsonl.read_bytes().split(b"\n")
    third = len(lines[0]) + len(lines[1]) + 2  # line 3 starts here
    flip(jsonl, third + lines[2].index(b"Jane Smith"))
    checked = verify(exported)
    assert checked.returncode == 1
    assert "FAIL manifest: custody.jsonl: its SHA-256 differs" in checked.stdout
    assert "FAIL chain: custody.jsonl line 3 (entry 3): its hash does not match" in checked.stdout
    summed = run("sha256sum", "-c", "manifest.sha256", cwd=exported)
    assert summed.returncode != 0
    assert "custody.jsonl: FAILED" in summed.stdout


async def test_a_consistently_rewritten_chain_disagrees_with_its_checkpoints(
    exported: Path,
) -> None:
    """Someone rewrites entry 2 and re-hashes every later entry and the manifest: the links
    hold, sha256sum passes, but the signed checkpoints name the rewrite."""
    jsonl = exported / "custody.jsonl"
    previous = "0" * 64
    rewritten = []
    for number, line in enumerate(jsonl.read_text("utf-8").splitlines(), start=1):
        entry = json.loads(json.loads(line)["canonical"])
        if number == 2:
            entry["actor_name"] = "Someone Else"
        entry["previous_hash"] = previous
        text = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        previous = hashlib.sha256(text.encode("utf-8")).hexdigest()
        rewritten.append(json.dumps({"canonical": text, "hash": previous}, ensure_ascii=False,
                                    separators=(",", ":")))  # fmt: skip
    jsonl.write_text("\n".join(rewritten) + "\n", "utf-8")
    manifest = exported / "manifest.sha256"
    manifest.write_text(
        "".join(
            f"{hashlib.sha256((exported / name).read_bytes()).hexdigest()}  {name}\n"
            for _, name in (line.split("  ", 1) for line in manifest.read_text().splitlines())
        )
    )
    assert run("sha256sum", "-c", "manifest.sha256", cwd=exported).returncode == 0
    checked = verify(exported)
    assert checked.returncode == 1
    assert "OK  chain" in checked.stdout
    assert (
        "FAIL checkpoints: checkpoints/000000000002.json: entry 2 differs from the one signed"
        in checked.stdout
    )


async def test_a_changed_exhibit_file_or_checkpoint_is_named(exported: Path) -> None:
    flip(exported / "files/JS-2_notes.pdf", 1000)
    flip(exported / "checkpoints/000000000007.json", 30)
    checked = verify(exported)
    assert checked.returncode == 1
    assert "FAIL manifest: checkpoints/000000000007.json: its SHA-256 differs" in checked.stdout
    assert "FAIL checkpoints: checkpoints/000000000007.json:" in checked.stdout
    summed = run("sha256sum", "-c", "manifest.sha256", cwd=exported)
    assert "files/JS-2_notes.pdf: FAILED" in summed.stdout
    assert "checkpoints/000000000007.json: FAILED" in summed.stdout
    assert openssl_verify(exported, "000000000007").returncode != 0
    assert openssl_verify(exported, "000000000002").returncode == 0


async def test_the_statement_reads_as_a_continuity_statement(exported: Path) -> None:
    pdf = exported / "continuity-statement.pdf"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(pdf, ARTIFACTS / "continuity-statement.pdf")
    rendered = run("pdftoppm", "-png", "-r", "70", str(pdf), str(ARTIFACTS / "statement"),
                   cwd=exported)  # fmt: skip
    assert rendered.returncode == 0, rendered.stderr
    assert sorted(p.name for p in ARTIFACTS.glob("statement-*.png"))
    extracted = run("pdftotext", "-layout", str(pdf), "-", cwd=exported)
    assert extracted.returncode == 0, extracted.stderr
    text = " ".join(extracted.stdout.split())
    assert f"Continuity statement, case {CASE}" in text
    assert "Exhibit JS/1: front door.jpg" in text
    assert "Exhibit JS/2: notes.pdf" in text
    assert f"Produced by {JANE.name}" in text
    assert hashlib.sha256(JPEG).hexdigest() in text
    assert hashlib.sha256(PDF).hexdigest() in text
    assert "The chain of custody of case MET-24-0001 verifies: all 7 entries" in text
    assert re.search(r"\d+ signed checkpoint\(s\) agree with the chain", text)
    assert "which matches the intake hash" in text
    assert "the stored file matched" in text
    assert "Reason given Crown Court disclosure" in text
    # Every time in UK local time with its zone (GMT or BST), never bare UTC.
    assert " GMT" in text or " BST" in text
    assert "UTC" not in text.replace("UTC)", "")
