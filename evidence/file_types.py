"""What the bytes of incoming evidence really are, and whether that agrees with the declared type.

Both work on untrusted input (the first bytes of the file, a type an officer's device declared)
and never fail: the declared type is kept beside what these functions return.
"""

from __future__ import annotations

import codecs
import re

SNIFF_LENGTH = 4096  # enough for every signature below, and for OOXML's second zip entry
OCTET_STREAM = "application/octet-stream"

_ISO_BMFF_BRANDS: dict[bytes, str] = {
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"), "image/heic"),
    **dict.fromkeys((b"mif1", b"msf1", b"heif"), "image/heif"),
    **dict.fromkeys((b"avif", b"avis"), "image/avif"),
    b"qt  ": "video/quicktime",
    **dict.fromkeys((b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "), "audio/mp4"),
    **dict.fromkeys((b"3gp4", b"3gp5", b"3gp6", b"3gp7", b"3gs7", b"3ge6", b"3gg6"), "video/3gpp"),
    **dict.fromkeys((b"3g2a", b"3g2b", b"3g2c"), "video/3gpp2"),
}
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
_BMP_HEADER_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\v\b\x1b")
_OOXML_PARTS = (
    (b"word/", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"xl/", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (b"ppt/", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
)
_SIMPLE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
    (b"\x1f\x8b\x08", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07\x00", "application/vnd.rar"),
    (b"Rar!\x1a\x07\x01\x00", "application/vnd.rar"),
    (b"SQLite format 3\x00", "application/vnd.sqlite3"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),  # .doc .xls .msg
    (b"{\\rtf", "application/rtf"),
    (b"\x7fELF", "application/x-executable"),
)


def detect_type(head: bytes) -> str:
    """The MIME type the first bytes of a file show (pass `SNIFF_LENGTH`, at least 64).

    Recognises common images, video, audio, documents, archives and executables by signature,
    then UTF-8 (or BOM-marked UTF-16) text as `text/plain`; anything else is
    `application/octet-stream`. Never raises.
    """
    for signature, mime in _SIMPLE_SIGNATURES:
        if head.startswith(signature):
            return _refine(mime, head)
    for detector in (_riff, _iso_bmff, _ebml, _zip, _bmp, _windows_executable, _mpeg_audio):
        found = detector(head)
        if found is not None:
            return found
    return "text/plain" if _is_text(head) else OCTET_STREAM


def _refine(mime: str, head: bytes) -> str:
    if mime == "audio/ogg" and b"\x80theora" in head[:128]:
        return "video/ogg"
    return mime


def _riff(head: bytes) -> str | None:
    if not head.startswith(b"RIFF") or len(head) < 12:
        return None
    return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(head[8:12])


def _iso_bmff(head: bytes) -> str | None:
    if len(head) < 12:
        return None
    if head[4:8] != b"ftyp":
        # Old QuickTime files start with an atom other than ftyp; its size is binary, not text.
        sized = any(byte < 0x20 or byte > 0x7E for byte in head[:4])
        return "video/quicktime" if head[4:8] in _QUICKTIME_ATOMS and sized else None
    box_end = min(int.from_bytes(head[:4], "big"), len(head))
    compatible = {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    found = _ISO_BMFF_BRANDS.get(head[8:12])
    if found == "image/heif":
        # HEIF files often name the generic "mif1" first and the codec's brand later.
        for brand, better in (
            (b"heic", "image/heic"),
            (b"heix", "image/heic"),
            (b"avif", "image/avif"),
        ):
            if brand in compatible:
                return better
    return found or "video/mp4"  # isom, iso2, mp41, mp42, avc1, dash, M4V and the rest


def _ebml(head: bytes) -> str | None:
    if not head.startswith(b"\x1a\x45\xdf\xa3"):
        return None
    return "video/webm" if b"webm" in head[:64] else "video/x-matroska"


def _zip(head: bytes) -> str | None:
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return None
    # ODF and EPUB store an uncompressed "mimetype" entry first: its content is the type.
    name_length = int.from_bytes(head[26:28], "little")
    if head[30 : 30 + name_length] == b"mimetype":
        start = 30 + name_length + int.from_bytes(head[28:30], "little")
        declared = re.match(rb"application/[a-z0-9.+-]{1,100}", head[start : start + 128])
        if declared is not None:
            return declared.group().decode("ascii")
    if b"[Content_Types].xml" in head or b"_rels/.rels" in head:
        for part, mime in _OOXML_PARTS:
            if part in head:
                return mime
    return "application/zip"


def _bmp(head: bytes) -> str | None:
    if head[:2] != b"BM" or len(head) < 18:
        return None
    return "image/bmp" if int.from_bytes(head[14:18], "little") in _BMP_HEADER_SIZES else None


def _windows_executable(head: bytes) -> str | None:
    if head[:2] != b"MZ" or len(head) < 64:
        return None
    offset = int.from_bytes(head[60:64], "little")
    if offset + 4 <= len(head):
        return "application/x-msdownload" if head[offset : offset + 4] == b"PE\0\0" else None
    return "application/x-msdownload" if offset < 0x10000 else None


def _mpeg_audio(head: bytes) -> str | None:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    if head[1] == 0xFE:
        return None  # a UTF-16 byte order mark, not a frame header
    if head[1] & 0xF6 == 0xF0:  # ADTS: 12 sync bits, layer 0
        return "audio/aac" if (head[2] >> 2) & 0x0F < 13 else None
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, sampling = head[2] >> 4, (head[2] >> 2) & 3
    if version == 1 or layer == 0 or bitrate == 15 or sampling == 3:
        return None
    return "audio/mpeg"


def _is_text(head: bytes) -> bool:
    if not head:
        return False
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            body = head[len(bom) :]
            text = body[: len(body) - len(body) % 2].decode(codec, errors="replace")
            return "\ufffd" not in text[:-1] and _plain(text)
    if b"\0" in head:
        return False
    try:
        # The head may end inside a multi-byte character: decode incrementally, not finally.
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return _plain(text)


def _plain(text: str) -> bool:
    return all(ord(char) >= 32 or ord(char) in _TEXT_CONTROLS for char in text if char != "\x7f")


# --- declared against detected ------------------------------------------------------------

_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/x-ms-bmp": "image/bmp",
    "image/x-bmp": "image/bmp",
    "image/tif": "image/tiff",
    "image/x-tiff": "image/tiff",
    "image/heic-sequence": "image/heic",
    "image/heif-sequence": "image/heif",
    "audio/mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg-3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/x-aac": "audio/aac",
    "audio/aacp": "audio/aac",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "video/avi": "video/x-msvideo",
    "video/msvideo": "video/x-msvideo",
    "video/x-m4v": "video/mp4",
    "application/x-pdf": "application/pdf",
    "application/x-zip-compressed": "application/zip",
    "application/x-zip": "application/zip",
    "application/x-gzip": "application/gzip",
    "application/x-rar-compressed": "application/vnd.rar",
    "application/x-rar": "application/vnd.rar",
    "application/x-sqlite3": "application/vnd.sqlite3",
    "application/x-7z": "application/x-7z-compressed",
    "text/rtf": "application/rtf",
    "application/vnd.microsoft.portable-executable": "application/x-msdownload",
    "application/x-msdos-program": "application/x-msdownload",
    "application/x-dosexec": "application/x-msdownload",
    "application/exe": "application/x-msdownload",
}
_UNINFORMATIVE = frozenset(
    {"", OCTET_STREAM, "binary/octet-stream", "application/unknown", "application/binary"}
)
# Types the same container holds, so the first bytes cannot tell them apart.
_FAMILIES: tuple[frozenset[str], ...] = (
    frozenset({"video/mp4", "audio/mp4", "video/quicktime", "video/3gpp", "video/3gpp2"}),
    frozenset({"image/heic", "image/heif", "image/avif"}),
    frozenset({"audio/ogg", "video/ogg", "application/ogg", "audio/opus"}),
    frozenset({"video/x-matroska", "video/webm", "audio/webm", "audio/x-matroska"}),
)
# Generic containers (the detected type) and the declared types they hold.
_CONTAINERS: dict[str, re.Pattern[str]] = {
    "application/zip": re.compile(
        r"^application/(epub\+zip|java-archive|vnd\.android\.package-archive|"
        r"vnd\.openxmlformats-officedocument\..+|vnd\.oasis\.opendocument\..+|"
        r"vnd\.ms-(word|excel|powerpoint)\..+|vnd\.ms-xpsdocument|oxps|"
        r"vnd\.google-earth\.kmz|.+\+zip)$"
    ),
    "application/x-ole-storage": re.compile(
        r"^application/(msword|vnd\.ms-excel|vnd\.ms-powerpoint|vnd\.ms-outlook|vnd\.visio|"
        r"x-msi|x-ms-installer|vnd\.ms-project|vnd\.ms-office)$"
    ),
    "image/tiff": re.compile(
        r"^image/(x-adobe-dng|dng|x-canon-cr2|x-nikon-nef|x-sony-arw|"
        r"x-olympus-orf|x-panasonic-rw2|x-pentax-pef|x-raw|x-dcraw)$"
    ),
    "text/plain": re.compile(
        r"^(text/.+|application/(json|xml|javascript|ecmascript|x-yaml|yaml|sql|csv|x-sh|"
        r"x-subrip|rtf|x-httpd-php|x-python|x-ndjson|.+\+xml|.+\+json|"
        r"vnd\.ms-excel)|image/svg\+xml|message/.+)$"  # Windows declares .csv as vnd.ms-excel
    ),
}
_OFFICE_KINDS = (
    ("word", re.compile(r"wordprocessingml|^application/(msword|vnd\.ms-word)")),
    ("excel", re.compile(r"spreadsheetml|^application/vnd\.ms-excel")),
    ("powerpoint", re.compile(r"presentationml|^application/vnd\.ms-powerpoint")),
)
_DETECTABLE = frozenset(
    {mime for _, mime in _SIMPLE_SIGNATURES}
    | set(_ISO_BMFF_BRANDS.values())
    | {mime for _, mime in _OOXML_PARTS}
    | {
        "video/mp4",
        "video/quicktime",
        "image/webp",
        "audio/wav",
        "video/x-msvideo",
        "video/webm",
        "video/x-matroska",
        "application/zip",
        "image/bmp",
        "application/x-msdownload",
        "audio/aac",
    }
)


def types_agree(declared: str, detected: str) -> bool:
    """Whether the declared type is compatible with the detected one (leniently).

    A declared type that says nothing (octet-stream, empty) agrees with anything; aliases count
    as the same type (`image/jpg`); types one container cannot tell apart agree (MP4, QuickTime,
    M4A); zip agrees with every zip-based format (Office Open XML, ODF, EPUB), OLE storage with
    the old Office formats, TIFF with camera raw formats, `text/plain` with any textual type;
    Office types of the same application agree (a .docm is a Word document). Bytes Exhibit does
    not recognise contradict only a declared type it would have recognised.
    """
    claimed, found = canonical_type(declared), canonical_type(detected)
    if claimed in _UNINFORMATIVE or claimed == found:
        return True
    if found == OCTET_STREAM:
        return claimed not in _DETECTABLE and not any(
            pattern.match(claimed) for mime, pattern in _CONTAINERS.items() if mime != "text/plain"
        )
    if any(claimed in family and found in family for family in _FAMILIES):
        return True
    container = _CONTAINERS.get(found)
    if container is not None and container.match(claimed):
        return True
    kinds = [kind for kind, pattern in _OFFICE_KINDS if pattern.search(claimed)]
    return any(kind in kinds for kind, pattern in _OFFICE_KINDS if pattern.search(found))


def canonical_type(mime: str) -> str:
    """`mime` without parameters, in lower case, with a common alias replaced (`image/jpg`)."""
    bare = mime.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)
