"""Build the package: validate the filled manifest and the icons, then zip them."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

from devtools.app_package.errors import ManifestInvalid, TemplateError
from devtools.app_package.manifest import SCHEMAS_DIR, fill_template, load_schema, manifest_problems
from devtools.app_package.settings import ROOT, PackageSettings

APP_PACKAGE_DIR = ROOT / "appPackage"
ICONS = {"color.png": (192, 192), "outline.png": (32, 32)}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# A fixed timestamp makes two builds of the same inputs byte-identical.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk, which the format requires to come first."""
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise TemplateError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def build_package(
    settings: PackageSettings,
    out_dir: Path,
    *,
    app_package_dir: Path = APP_PACKAGE_DIR,
    schemas_dir: Path = SCHEMAS_DIR,
) -> Path:
    """Validate the filled manifest, then write `exhibit-<version>.zip`; return its path."""
    template = json.loads((app_package_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest = fill_template(template, settings)
    problems = manifest_problems(manifest, load_schema(manifest, schemas_dir))
    icons = {name: (app_package_dir / name).read_bytes() for name in ICONS}
    for name, data in icons.items():
        if png_size(data) != ICONS[name]:
            problems.append(f"{name}: is {png_size(data)}, Teams needs {ICONS[name]}")
    if problems:
        raise ManifestInvalid(problems)

    files = {"manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()}
    files.update(icons)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"exhibit-{settings.version}.zip"
    partial = target.with_name(target.name + ".partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    # Replace in one step so an upload never picks up a half-written package.
    partial.replace(target)
    return target
