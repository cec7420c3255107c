"""Draw Exhibit's Teams icons: a sealed evidence bag marked "E".

Run `.venv/bin/python appPackage/make_icons.py [--out DIR]` to reproduce `color.png` (192x192,
full colour) and `outline.png` (32x32, white on transparent) beside this script. Shapes are
drawn at several times the final size and scaled down, so edges are smooth without a font:
the "E" is built from rectangles, which keeps the output identical on every machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

COLOR_SIZE = 192
OUTLINE_SIZE = 32
NAVY = (27, 54, 93)  # the manifest's accentColor, #1B365D
SEAL_RED = (200, 16, 46)
BAG_WHITE = (246, 247, 249)
WHITE = (255, 255, 255)

Box = tuple[float, float, float, float]


Fill = int | tuple[int, ...]


def _box(k: float, x0: float, y0: float, x1: float, y1: float) -> Box:
    """A box given in final-size pixels, scaled by the supersampling factor `k`."""
    return (x0 * k, y0 * k, x1 * k, y1 * k)


def _letter_e(draw: ImageDraw.ImageDraw, box: Box, stroke: float, fill: Fill) -> None:
    """Draw a block capital E filling `box` with bars `stroke` thick."""
    x0, y0, x1, y1 = box
    middle = (y0 + y1) / 2
    draw.rectangle((x0, y0, x0 + stroke, y1), fill=fill)
    draw.rectangle((x0, y0, x1, y0 + stroke), fill=fill)
    draw.rectangle((x0, middle - stroke / 2, x1 - (x1 - x0) * 0.15, middle + stroke / 2), fill=fill)
    draw.rectangle((x0, y1 - stroke, x1, y1), fill=fill)


def color_icon() -> Image.Image:
    """The 192x192 full-colour icon: a white evidence bag with a red seal on navy."""
    k = 4  # supersampling factor
    image = Image.new("RGB", (COLOR_SIZE * k, COLOR_SIZE * k), NAVY)
    draw = ImageDraw.Draw(image)

    # The bag stays inside Teams' central safe area so rounded tile masks never clip it.
    draw.rounded_rectangle(_box(k, 46, 30, 146, 162), radius=10 * k, fill=BAG_WHITE)
    # A tamper-evident seal strip with perforations, the detail that says "evidence bag".
    draw.rectangle(_box(k, 46, 50, 146, 66), fill=SEAL_RED)
    for x in range(52, 142, 10):
        draw.rectangle(_box(k, x, 56, x + 5, 60), fill=BAG_WHITE)
    _letter_e(draw, _box(k, 74, 82, 118, 146), 11 * k, NAVY)
    return image.resize((COLOR_SIZE, COLOR_SIZE), Image.Resampling.LANCZOS)


def outline_icon() -> Image.Image:
    """The 32x32 outline icon: the same bag in white on a transparent background."""
    k = 8
    mask = Image.new("L", (OUTLINE_SIZE * k, OUTLINE_SIZE * k), 0)
    draw = ImageDraw.Draw(mask)

    draw.rounded_rectangle(_box(k, 6, 3, 26, 29), radius=3 * k, outline=255, width=2 * k)
    draw.rectangle(_box(k, 6, 8, 26, 10), fill=255)
    _letter_e(draw, _box(k, 11, 13, 21, 25), 2 * k, 255)
    # Teams requires pure white on transparent: colour is constant, only alpha varies.
    alpha = mask.resize((OUTLINE_SIZE, OUTLINE_SIZE), Image.Resampling.BOX)
    image = Image.new("RGBA", (OUTLINE_SIZE, OUTLINE_SIZE), (*WHITE, 0))
    image.putalpha(alpha)
    return image


def write_icons(out: Path) -> tuple[Path, Path]:
    """Write color.png and outline.png into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    color, outline = out / "color.png", out / "outline.png"
    color_icon().save(color, format="PNG", optimize=True)
    outline_icon().save(outline, format="PNG", optimize=True)
    return color, outline


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="folder to write the icons into (default: beside this script)",
    )
    args = parser.parse_args(argv)
    for path in write_icons(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
