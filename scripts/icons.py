"""Draw the upload form's app icons: an SVG and the PNGs and favicon made from the same shapes.

    .venv/bin/python scripts/icons.py [--out FOLDER]

Writes into ``templates/static/upload/icons/`` (or FOLDER): ``icon.svg`` (any size),
``icon-192.png`` and ``icon-512.png`` (the manifest's icons),
``icon-maskable-512.png`` (the glyph inside the central 80 % safe zone, for
launchers that cut their own shape), ``apple-touch-icon.png`` (180 px) and
``favicon.ico`` (16, 32 and 48 px). The drawing is a camera with an upward
arrow in its lens on the form's blue; every shape is given once below on a
512-unit grid and drawn by both the SVG writer and Pillow, so the two agree.
Pillow writes no dates into PNGs, so running it again makes the same bytes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "templates" / "static" / "upload" / "icons"
BLUE = "#0b4fb3"
WHITE = "#ffffff"
GRID = 512
SUPERSAMPLE = 4

# (kind, box or points, fill) on the 512 grid; "round" boxes carry their corner radius.
BODY = ("round", (76, 160, 436, 396, 40), WHITE)
HUMP = ("round", (186, 116, 326, 190, 24), WHITE)
LENS_RING = ("circle", (256, 280, 96), BLUE)
LENS = ("circle", (256, 280, 74), WHITE)
ARROW = ("polygon", ((256, 222), (306, 276), (276, 276), (276, 334), (236, 334), (236, 276), (206, 276)), BLUE)
FLASH = ("circle", (384, 204, 14), BLUE)
GLYPH = (BODY, HUMP, LENS_RING, LENS, ARROW, FLASH)


def scaled(shapes: tuple, factor: float, offset: float) -> tuple:
    """The shapes shrunk by ``factor`` around the grid's centre plus ``offset`` (the maskable icon's safe zone)."""

    def point(value: float) -> float:
        return value * factor + offset

    out = []
    for kind, geometry, fill in shapes:
        if kind == "round":
            x0, y0, x1, y1, radius = geometry
            out.append((kind, (point(x0), point(y0), point(x1), point(y1), radius * factor), fill))
        elif kind == "circle":
            cx, cy, radius = geometry
            out.append((kind, (point(cx), point(cy), radius * factor), fill))
        else:
            out.append((kind, tuple((point(x), point(y)) for x, y in geometry), fill))
    return tuple(out)


def svg_shape(kind: str, geometry: tuple, fill: str) -> str:
    if kind == "round":
        x0, y0, x1, y1, radius = geometry
        return f'<rect x="{x0:g}" y="{y0:g}" width="{x1 - x0:g}" height="{y1 - y0:g}" rx="{radius:g}" fill="{fill}"/>'
    if kind == "circle":
        cx, cy, radius = geometry
        return f'<circle cx="{cx:g}" cy="{cy:g}" r="{radius:g}" fill="{fill}"/>'
    points = " ".join(f"{x:g},{y:g}" for x, y in geometry)
    return f'<polygon points="{points}" fill="{fill}"/>'


def svg(shapes: tuple, corner: int) -> str:
    body = "\n".join(f"  {svg_shape(*shape)}" for shape in shapes)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {GRID} {GRID}" width="{GRID}" height="{GRID}">\n'
        f'  <rect width="{GRID}" height="{GRID}" rx="{corner}" fill="{BLUE}"/>\n{body}\n</svg>\n'
    )


def draw_shape(draw: ImageDraw.ImageDraw, kind: str, geometry: tuple, fill: str, unit: float) -> None:
    if kind == "round":
        x0, y0, x1, y1, radius = (value * unit for value in geometry)
        draw.rounded_rectangle((x0, y0, x1, y1), radius=radius, fill=fill)
    elif kind == "circle":
        cx, cy, radius = (value * unit for value in geometry)
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    else:
        draw.polygon([(x * unit, y * unit) for x, y in geometry], fill=fill)


def bitmap(shapes: tuple, size: int, corner: int) -> Image.Image:
    """The icon at ``size`` pixels, drawn larger and shrunk so edges are smooth."""
    big = size * SUPERSAMPLE
    unit = big / GRID
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=corner * unit, fill=BLUE)
    for shape in shapes:
        draw_shape(draw, *shape, unit)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def write_icons(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    maskable = scaled(GLYPH, 0.8, GRID * 0.1)
    (out / "icon.svg").write_text(svg(GLYPH, 96), encoding="utf-8")
    bitmap(GLYPH, 192, 96).save(out / "icon-192.png", optimize=True)
    bitmap(GLYPH, 512, 96).save(out / "icon-512.png", optimize=True)
    bitmap(maskable, 512, 0).save(out / "icon-maskable-512.png", optimize=True)
    bitmap(GLYPH, 180, 0).save(out / "apple-touch-icon.png", optimize=True)
    bitmap(GLYPH, 48, 96).save(out / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48)])


def main() -> None:
    parser = argparse.ArgumentParser(description="Draw the upload form's app icons.")
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the icons (default: the templates')")
    write_icons(parser.parse_args().out)


if __name__ == "__main__":
    main()
