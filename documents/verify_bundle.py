#!/usr/bin/env python3
"""Check an Exhibit continuity bundle without Exhibit: Python 3 and its standard library only.

Usage: python3 verify.py [BUNDLE-DIRECTORY]   (default: the directory this file is in)

Checks, in order, and names the first problem of each:
  1. manifest.sha256: every file listed is present with that SHA-256, and no file is unlisted;
  2. custody.jsonl: each entry's SHA-256 over its canonical encoding is its hash, the encoding
     is canonical, sequences run 1, 2, 3, ... and each entry holds the previous entry's hash;
  3. checkpoints/N.json: each names this chain, an entry the chain has, that entry's hash, and
     the key in public-key.pem; with `openssl` on the PATH, each signature is checked too.
Exit status 0 when everything holds, 1 when anything does not.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys

GENESIS = "0" * 64
MANIFEST = "manifest.sha256"


class Problem(Exception):
    """Something in the bundle does not hold; the message says where."""


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(document: object) -> str:
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def check_manifest(base: str) -> int:
    path = os.path.join(base, MANIFEST)
    if not os.path.isfile(path):
        raise Problem(f"{MANIFEST} is missing")
    listed: dict[str, str] = {}
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            digest, separator, name = line.rstrip("\n").partition("  ")
            if not separator or len(digest) != 64 or not name:
                raise Problem(f"{MANIFEST} line {number} is not '<sha256>  <file>'")
            listed[name] = digest
    for name, digest in listed.items():
        target = os.path.normpath(os.path.join(base, name))
        if not target.startswith(os.path.normpath(base) + os.sep) or not os.path.isfile(target):
            raise Problem(f"{name}: listed in {MANIFEST} but missing from the bundle")
        if sha256_file(target) != digest:
            raise Problem(f"{name}: its SHA-256 differs from {MANIFEST} (the file was changed)")
    for root, _dirs, files in os.walk(base):
        for file_name in files:
            name = os.path.relpath(os.path.join(root, file_name), base).replace(os.sep, "/")
            if name != MANIFEST and name not in listed and "__pycache__" not in name:
                raise Problem(f"{name}: in the bundle but not in {MANIFEST}")
    return len(listed)


def check_chain(base: str) -> tuple[str, dict[int, str]]:
    """Returns the chain id and the hash of each entry by sequence."""
    hashes: dict[int, str] = {}
    chain: str | None = None
    previous = GENESIS
    with open(os.path.join(base, "custody.jsonl"), encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            where = f"custody.jsonl line {number} (entry {number})"
            try:
                record = json.loads(line)
                text = record["canonical"]
                recorded_hash = record["hash"]
                entry = json.loads(text)
            except (ValueError, KeyError, TypeError) as error:
                raise Problem(f"{where}: not a readable entry ({error})") from None
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != recorded_hash:
                raise Problem(f"{where}: its hash does not match its contents (altered)")
            if canonical_json(entry) != text:
                raise Problem(f"{where}: the encoding is not canonical")
            if entry.get("sequence") != number:
                raise Problem(f"{where}: sequence {entry.get('sequence')!r}, expected {number}")
            chain = str(entry.get("chain")) if chain is None else chain
            if entry.get("chain") != chain:
                raise Problem(f"{where}: belongs to another chain")
            if entry.get("previous_hash") != previous:
                raise Problem(f"{where}: does not hold the previous entry's hash (broken link)")
            previous = recorded_hash
            hashes[number] = recorded_hash
    if chain is None or not hashes:
        raise Problem("custody.jsonl holds no entries")
    return chain, hashes


def public_key_id(base: str) -> str:
    with open(os.path.join(base, "public-key.pem"), encoding="ascii") as file:
        lines = [line.strip() for line in file if line.strip() and "-----" not in line]
    return hashlib.sha256(base64.b64decode("".join(lines))).hexdigest()


def check_checkpoints(base: str, chain: str, hashes: dict[int, str]) -> tuple[int, bool]:
    folder = os.path.join(base, "checkpoints")
    names = (
        sorted(n for n in os.listdir(folder) if n.endswith(".json"))
        if os.path.isdir(folder)
        else []
    )
    key_id = public_key_id(base)
    openssl = shutil.which("openssl")
    for name in names:
        where = f"checkpoints/{name}"
        with open(os.path.join(folder, name), "rb") as file:
            payload = file.read()
        try:
            document = json.loads(payload.decode("utf-8"))
        except ValueError:
            raise Problem(f"{where}: not readable JSON") from None
        if canonical_json(document).encode("utf-8") != payload:
            raise Problem(f"{where}: not in canonical form (changed after signing)")
        sequence = document.get("sequence")
        if document.get("chain") != chain:
            raise Problem(f"{where}: names another chain than custody.jsonl")
        if sequence not in hashes:
            raise Problem(f"{where}: signs entry {sequence}, which custody.jsonl lacks (truncated)")
        if document.get("entry_hash") != hashes[sequence]:
            raise Problem(f"{where}: entry {sequence} differs from the one signed (rewritten)")
        if document.get("key_id") != key_id:
            raise Problem(f"{where}: signed by another key than public-key.pem")
        if openssl:
            result = subprocess.run(  # noqa: S603 (fixed program, file names from this bundle)
                [openssl, "dgst", "-sha256", "-verify", "public-key.pem",
                 "-signature", f"checkpoints/{name[:-5]}.sig", where],
                cwd=base, capture_output=True, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise Problem(f"{where}: the signature does not verify (openssl)")
    return len(names), bool(openssl)


def main(argv: list[str]) -> int:
    base = os.path.abspath(argv[1] if len(argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
    failed = False
    try:
        count = check_manifest(base)
        print(f"OK  manifest: {count} files present with their SHA-256")
    except Problem as problem:
        failed = True
        print(f"FAIL manifest: {problem}")
    chain: str | None = None
    hashes: dict[int, str] = {}
    try:
        chain, hashes = check_chain(base)
        print(f"OK  chain {chain}: {len(hashes)} entries, hashes and links verify")
    except (Problem, OSError) as problem:
        failed = True
        print(f"FAIL chain: {problem}")
    if chain is not None:
        try:
            count, signed = check_checkpoints(base, chain, hashes)
            how = (
                "signatures verified with openssl"
                if signed
                else ("signatures NOT checked: openssl is not on the PATH (see README.txt)")
            )
            print(f"OK  checkpoints: {count} agree with the chain and the key; {how}")
        except (Problem, OSError) as problem:
            failed = True
            print(f"FAIL checkpoints: {problem}")
    print("The bundle does NOT verify." if failed else "The bundle verifies.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
