"""Stored names and sniffed types of incoming files: pure functions, table-driven."""

from __future__ import annotations

import gzip
import io
import sqlite3
import struct
import zipfile
from pathlib import Path

import pytest

from evidence.file_names import sanitize_file_name
from evidence.file_types import SNIFF_LENGTH, detect_type, types_agree

# --- sanitize_file_name --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("photo.jpg", "photo.jpg"),
        ("Witness statement (final).docx", "Witness statement (final).docx"),
        # Right-to-left override: shows as "invoiceexe.pdf", is an .exe.
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("\u2066cv\u2069\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u2067\u2068.pdf", "cv.pdf"),
        ("\ufeffbom.txt", "bom.txt"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\drivers\\etc\\hosts", "hosts"),
        ("C:\\evil\\x.jpg", "x.jpg"),
        ("/absolute/path/to/file.png", "file.png"),
        ("folder/", "folder"),
        ("name\x00.jpg.exe", "name.jpg.exe"),
        ("line\r\nbreak.txt", "line break.txt"),
        ("tab\there.txt", "tab here.txt"),
        ("bell\x07\x1b[31m\x7f.txt", "bell[31m.txt"),
        ("c1\x85\x9bcontrols.txt", "c1 controls.txt"),
        ("para\u2028graph.txt", "para graph.txt"),
        ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
        ("  many   spaces   here  .pdf", "many spaces here .pdf"),
        ("...hidden", "hidden"),
        (" . .dots and spaces. . ", "dots and spaces"),
        ("trailing dot.", "trailing dot"),
        ("CON", "_CON"),
        ("con.txt", "_con.txt"),
        ("Aux.tar.gz", "_Aux.tar.gz"),
        ("NUL .txt", "_NUL .txt"),
        ("COM1.log", "_COM1.log"),
        ("lpt9", "_lpt9"),
        ("COM\u00b9.txt", "_COM\u00b9.txt"),
        ("CONSOLE.txt", "CONSOLE.txt"),
        ("COM10.txt", "COM10.txt"),
        ("", "file"),
        ("   ", "file"),
        ("..", "file"),
        ("\u202e\u202e", "file"),
        ("a/b/../", "b"),
        ("e\u0301te\u0301.jpg", "\u00e9t\u00e9.jpg"),  # NFD from macOS becomes NFC
        ("письмо.pdf", "письмо.pdf"),
        ("证据 照片.heic", "证据 照片.heic"),
        (".bashrc", "bashrc"),
    ],
)
def test_sanitize(given: str, expected: str) -> None:
    assert sanitize_file_name(given) == expected


def test_a_long_name_keeps_its_extension_within_the_byte_limit() -> None:
    name = "a" * 300 + ".jpeg"

    cleaned = sanitize_file_name(name)

    assert cleaned == "a" * 175 + ".jpeg"
    assert len(cleaned.encode()) == 180


def test_multibyte_names_are_cut_on_character_boundaries() -> None:
    name = "é" * 200 + ".pdf"  # two bytes each

    cleaned = sanitize_file_name(name, max_length=101)

    assert cleaned == "é" * 48 + ".pdf"
    assert len(cleaned.encode()) == 100


def test_emoji_are_never_split() -> None:
    cleaned = sanitize_file_name("📷" * 100 + ".png", max_length=50)

    assert cleaned == "📷" * 11 + ".png"
    cleaned.encode("utf-8")  # would raise on a half character


def test_a_long_extension_is_part_of_the_name() -> None:
    name = "report." + "x" * 300

    cleaned = sanitize_file_name(name, max_length=40)

    assert cleaned == ("report." + "x" * 300)[:40]


def test_a_cut_never_leaves_a_device_name() -> None:
    extension = ".0123456789abcdef"  # as long as an extension may be

    cleaned = sanitize_file_name("AUX 📷📷" + extension, max_length=22)

    assert cleaned == "_AUX" + extension


def test_a_cut_never_ends_in_dot_or_space() -> None:
    name = "evidence " + "." * 200 + "x.mp4"

    cleaned = sanitize_file_name(name, max_length=30)

    assert cleaned == "evidence.mp4"


def test_max_length_too_small_is_refused() -> None:
    with pytest.raises(ValueError, match="max_length"):
        sanitize_file_name("x.jpg", max_length=5)


@pytest.mark.parametrize("given", ["invoice\u202efdp.exe", "../x", "C:\\a\\b", "CON", "a" * 999])
def test_sanitizing_twice_changes_nothing(given: str) -> None:
    once = sanitize_file_name(given)
    assert sanitize_file_name(once) == once


# --- detect_type ---------------------------------------------------------------------------


def pad(head: bytes, size: int = 64) -> bytes:
    return head + bytes(max(0, size - len(head)))


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return pad(struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0\0\0\x08free")


def riff(kind: bytes) -> bytes:
    return pad(b"RIFF" + struct.pack("<I", 1000) + kind + b"fmt ")


def bmp() -> bytes:
    return pad(b"BM" + struct.pack("<IHHI", 1000, 0, 0, 54) + struct.pack("<I", 40))


def pe() -> bytes:
    head = bytearray(256)
    head[:2] = b"MZ"
    head[60:64] = struct.pack("<I", 128)
    head[128:132] = b"PE\0\0"
    return bytes(head)


def zipped(*entries: tuple[str, bytes], stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for index, (name, data) in enumerate(entries):
            method = zipfile.ZIP_STORED if stored_first and index == 0 else zipfile.ZIP_DEFLATED
            archive.writestr(name, data, compress_type=method)
    return buffer.getvalue()[:SNIFF_LENGTH]


CONTENT_TYPES = b'<?xml version="1.0"?><Types xmlns="x">' + b"<Default/>" * 20 + b"</Types>"


def sqlite_head(tmp: Path) -> bytes:
    path = tmp / "db.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("create table t (x)")
    db.close()
    return path.read_bytes()[:SNIFF_LENGTH]


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (pad(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "image/jpeg"),
        (pad(b"\xff\xd8\xff\xe1\x00\x10Exif\x00"), "image/jpeg"),
        (pad(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "image/png"),
        (pad(b"GIF89a\x01\x00"), "image/gif"),
        (pad(b"GIF87a\x01\x00"), "image/gif"),
        (riff(b"WEBP"), "image/webp"),
        (ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
        (ftyp(b"mif1", b"mif1", b"heic"), "image/heic"),
        (ftyp(b"mif1", b"mif1"), "image/heif"),
        (ftyp(b"avif", b"mif1", b"miaf"), "image/avif"),
        (pad(b"II*\x00\x08\x00\x00\x00"), "image/tiff"),
        (pad(b"MM\x00*\x00\x00\x00\x08"), "image/tiff"),
        (bmp(), "image/bmp"),
        (pad(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), "application/pdf"),
        (ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video/mp4"),
        (ftyp(b"mp42", b"mp42", b"isom"), "video/mp4"),
        (ftyp(b"qt  ", b"qt  "), "video/quicktime"),
        (pad(b"\x00\x00\x00\x08wide\x00\x01\x00\x00mdat"), "video/quicktime"),
        (ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"), "audio/mp4"),
        (ftyp(b"3gp4", b"3gp4", b"isom"), "video/3gpp"),
        (ftyp(b"3g2a", b"3g2a"), "video/3gpp2"),
        (riff(b"AVI "), "video/x-msvideo"),
        (riff(b"WAVE"), "audio/wav"),
        (pad(b"\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska"), "video/x-matroska"),
        (pad(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm"), "video/webm"),
        (pad(b"ID3\x04\x00\x00\x00\x00\x00\x00"), "audio/mpeg"),
        (pad(b"\xff\xfb\x90\x64"), "audio/mpeg"),  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
        (pad(b"\xff\xf3\x48\xc4"), "audio/mpeg"),  # MPEG-2 layer III
        (pad(b"\xff\xf1\x50\x80"), "audio/aac"),  # ADTS
        (pad(b"OggS\x00\x02" + bytes(22) + b"\x01vorbis"), "audio/ogg"),
        (pad(b"OggS\x00\x02" + bytes(22) + b"\x80theora"), "video/ogg"),
        (pad(b"fLaC\x00\x00\x00\x22"), "audio/flac"),
        (zipped(("notes.txt", b"hello"), ("b.txt", b"x")), "application/zip"),
        (
            zipped(("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", b"<w/>")),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            zipped(("[Content_Types].xml", CONTENT_TYPES), ("xl/workbook.xml", b"<x/>")),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        (
            zipped(("[Content_Types].xml", CONTENT_TYPES), ("ppt/presentation.xml", b"<p/>")),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ),
        (
            zipped(
                ("mimetype", b"application/vnd.oasis.opendocument.text"),
                ("content.xml", b"<x/>"),
                stored_first=True,
            ),
            "application/vnd.oasis.opendocument.text",
        ),
        (
            zipped(("mimetype", b"application/epub+zip"), ("a.xhtml", b"<x/>"), stored_first=True),
            "application/epub+zip",
        ),
        (pad(b"PK\x05\x06"), "application/zip"),  # an empty archive
        (pad(gzip.compress(b"x" * 100)), "application/gzip"),
        (pad(b"7z\xbc\xaf\x27\x1c\x00\x04"), "application/x-7z-compressed"),
        (pad(b"Rar!\x1a\x07\x00"), "application/vnd.rar"),
        (pad(b"Rar!\x1a\x07\x01\x00"), "application/vnd.rar"),
        (pad(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"), "application/x-ole-storage"),
        (pad(b"{\\rtf1\\ansi"), "application/rtf"),
        (pe(), "application/x-msdownload"),
        (pad(b"\x7fELF\x02\x01\x01"), "application/x-executable"),
        (b"Statement of PC Smith, taken 12/03/2024 at Lambeth.\nI was on duty...\n", "text/plain"),
        ("Déclaration du témoin — «café» ☕ 证据\n".encode() * 3, "text/plain"),
        (b"name,date\r\nSmith,2024-03-12\r\n" * 4, "text/plain"),
        ("UTF-16 text\r\n".encode("utf-16") * 4, "text/plain"),
        ("UTF-16 text\r\n".encode("utf-16-be") * 4, "application/octet-stream"),  # no BOM
        (
            b"\xef\xbb\xbfUTF-8 with a BOM, quite long enough to count as text for sure",
            "text/plain",
        ),
        (bytes(range(256)), "application/octet-stream"),
        (
            b"text with a \x00 NUL in it, which plain text never has, and more words",
            "application/octet-stream",
        ),
        (
            b"latin-1 caf\xe9 is not UTF-8, so it is not known to be text here......",
            "application/octet-stream",
        ),
        (b"\x01\x02\x03 control characters are not text " * 3, "application/octet-stream"),
        (b"BM is only two letters: a text starting so is text, not a bitmap.", "text/plain"),
        (b"MZ is only two letters: a text starting so is text, not a program.", "text/plain"),
        (b"", "application/octet-stream"),
    ],
)
def test_detect_type(head: bytes, expected: str) -> None:
    assert detect_type(head) == expected


def test_a_multibyte_character_cut_at_the_end_of_the_head_is_still_text() -> None:
    text = ("évidence " * 20).encode()

    assert detect_type(text[:63]) == "text/plain"  # ends inside "é"


def test_a_real_sqlite_file(tmp_path: Path) -> None:
    assert detect_type(sqlite_head(tmp_path)) == "application/vnd.sqlite3"


def test_detection_never_raises_on_short_or_odd_heads() -> None:
    for head in (
        b"\xff",
        b"\xff\xfb",
        b"RIFF",
        b"\0\0\0\x20ftyp",
        b"PK\x03\x04",
        b"MZ",
        b"\x1a\x45",
    ):
        assert "/" in detect_type(head)  # a MIME type, never an exception


# --- types_agree ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "detected"),
    [
        ("image/jpeg", "image/jpeg"),
        ("image/jpg", "image/jpeg"),
        ("IMAGE/JPEG; charset=binary", "image/jpeg"),
        ("image/pjpeg", "image/jpeg"),
        ("application/octet-stream", "image/png"),
        ("", "video/mp4"),
        ("binary/octet-stream", "application/pdf"),
        ("text/csv", "text/plain"),
        ("text/plain; charset=utf-8", "text/plain"),
        ("application/json", "text/plain"),
        ("image/svg+xml", "text/plain"),
        ("message/rfc822", "text/plain"),
        ("application/vnd.ms-excel", "text/plain"),  # how Windows declares .csv
        ("video/quicktime", "video/mp4"),
        ("video/mp4", "video/quicktime"),
        ("audio/x-m4a", "audio/mp4"),
        ("audio/mp4", "video/mp4"),
        ("image/heic", "image/heif"),
        ("audio/mp3", "audio/mpeg"),
        ("audio/x-wav", "audio/wav"),
        ("video/avi", "video/x-msvideo"),
        ("application/x-zip-compressed", "application/zip"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/zip",
        ),
        ("application/vnd.oasis.opendocument.spreadsheet", "application/zip"),
        ("application/epub+zip", "application/zip"),
        (
            "application/vnd.ms-word.document.macroenabled.12",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        ("application/msword", "application/x-ole-storage"),
        ("application/vnd.ms-outlook", "application/x-ole-storage"),
        ("image/x-adobe-dng", "image/tiff"),
        ("application/x-sqlite3", "application/vnd.sqlite3"),
        ("application/x-gzip", "application/gzip"),
        # Bytes Exhibit does not recognise do not contradict what it could not check.
        ("application/vnd.dwg", "application/octet-stream"),
        ("text/plain", "application/octet-stream"),
        ("video/x-ms-wmv", "application/octet-stream"),
    ],
)
def test_types_that_agree(declared: str, detected: str) -> None:
    assert types_agree(declared, detected)


@pytest.mark.parametrize(
    ("declared", "detected"),
    [
        ("image/jpeg", "application/x-msdownload"),
        ("application/pdf", "application/x-msdownload"),
        ("image/png", "image/jpeg"),
        ("video/mp4", "image/jpeg"),
        ("text/plain", "application/zip"),
        ("text/csv", "application/x-msdownload"),
        ("image/jpeg", "text/plain"),
        ("application/pdf", "application/zip"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("application/msword", "application/zip"),
        ("image/heic", "video/mp4"),
        # A type Exhibit would have recognised, on bytes it did not.
        ("image/jpeg", "application/octet-stream"),
        ("application/pdf", "application/octet-stream"),
        (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/octet-stream",
        ),
    ],
)
def test_types_that_do_not_agree(declared: str, detected: str) -> None:
    assert not types_agree(declared, detected)
