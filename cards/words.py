"""Plain words for what the records hold in technical form: sizes, regions, file kinds.

One function each, used by cards, the link pages and the e-mail, so that the same thing reads
the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping

from cards.text import clean
from evidence.file_types import canonical_type

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def size_text(size: int | None) -> str:
    """A byte count for people, in binary units with one decimal: `27.3 KiB`, `512 bytes`."""
    if size is None:
        return "size unknown"
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = size / 1024
    for unit in _UNITS:
        if value < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


# Azure region names as people say them. Others are shown as configured.
REGION_NAMES: Mapping[str, str] = {
    "uksouth": "UK South (London)",
    "ukwest": "UK West (Cardiff)",
    "northeurope": "North Europe (Ireland)",
    "westeurope": "West Europe (Netherlands)",
}


def region_name(region: str) -> str:
    """`UK South (London)` for `uksouth`; a region not in the table as given."""
    return REGION_NAMES.get(region.strip().lower(), clean(region))


# File kinds by MIME type (after the parameters are dropped); others are "File (type)".
FILE_KINDS: Mapping[str, str] = {
    "image/jpeg": "JPEG image",
    "image/png": "PNG image",
    "image/gif": "GIF image",
    "image/tiff": "TIFF image",
    "image/bmp": "BMP image",
    "image/webp": "WebP image",
    "image/heic": "HEIC image (iPhone photo)",
    "image/heif": "HEIF image",
    "image/avif": "AVIF image",
    "image/svg+xml": "SVG drawing",
    "video/mp4": "MP4 video",
    "video/quicktime": "QuickTime video (MOV)",
    "video/x-msvideo": "AVI video",
    "video/webm": "WebM video",
    "video/x-matroska": "Matroska video (MKV)",
    "video/3gpp": "3GP video",
    "video/3gpp2": "3G2 video",
    "video/ogg": "Ogg video",
    "audio/mpeg": "MP3 audio",
    "audio/mp4": "M4A audio",
    "audio/wav": "WAV audio",
    "audio/ogg": "Ogg audio",
    "audio/flac": "FLAC audio",
    "audio/aac": "AAC audio",
    "application/pdf": "PDF document",
    "application/rtf": "Rich text document",
    "text/plain": "Text file",
    "text/csv": "CSV spreadsheet",
    "application/msword": "Word document (old format)",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word document",
    "application/vnd.ms-excel": "Excel spreadsheet (old format)",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel spreadsheet",
    "application/vnd.ms-powerpoint": "PowerPoint presentation (old format)",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "PowerPoint presentation"
    ),
    "application/vnd.ms-outlook": "Outlook message",
    "message/rfc822": "E-mail message",
    "application/x-ole-storage": "Old Office file",
    "application/zip": "ZIP archive",
    "application/gzip": "GZIP archive",
    "application/x-7z-compressed": "7-Zip archive",
    "application/vnd.rar": "RAR archive",
    "application/vnd.sqlite3": "SQLite database",
    "application/x-msdownload": "Windows program",
    "application/x-executable": "Linux program",
    "application/octet-stream": "File of unknown type",
}


def file_kind(mime: str | None) -> str:
    """`JPEG image` for `image/jpeg`; `File (type)` for a type not in the table."""
    bare = canonical_type(mime or "")
    if not bare:
        return "File of unknown type"
    return FILE_KINDS.get(bare) or f"File ({clean(bare)})"
