"""Real images made in the tests: JPEGs with chosen EXIF, and the other accepted formats."""

from __future__ import annotations

import io
import random

from PIL import Image

ORIENTATION = 0x0112
DATETIME_ORIGINAL = 0x9003
EXIF_IFD = 0x8769
GPS_IFD = 0x8825


def photo(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """A picture with structure (gradient plus noise blocks) so JPEG sizes look like photos, not flat fills."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize((width, height))
    red = Image.new("L", (width, height), rng.randrange(256))
    image = Image.merge("RGB", (red, base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    for _ in range(12):
        x, y = rng.randrange(width), rng.randrange(height)
        box = (x, y, min(width, x + width // 6 + 1), min(height, y + height // 6 + 1))
        image.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), box)
    return image


def make_exif(orientation: int | None = None, taken: str | None = None, gps: tuple[float, float] | None = None):
    exif = Image.Exif()
    if orientation:
        exif[ORIENTATION] = orientation
    if taken:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = taken
    if gps:
        exif.get_ifd(GPS_IFD).update(gps_tags(*gps))
    return exif


def gps_tags(lat: float, lon: float) -> dict:
    def dms(value: float) -> tuple:
        value = abs(value)
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
        return (float(degrees), float(minutes), float(seconds))

    return {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}


def jpeg_bytes(
    width: int = 640,
    height: int = 480,
    seed: int = 0,
    orientation: int | None = None,
    taken: str | None = None,
    gps: tuple[float, float] | None = None,
    quality: int = 90,
) -> bytes:
    """A JPEG whose stored pixels are ``width`` x ``height`` (before any EXIF rotation)."""
    out = io.BytesIO()
    photo(width, height, seed).save(out, "JPEG", quality=quality, exif=make_exif(orientation, taken, gps))
    return out.getvalue()


def encoded(fmt: str, width: int = 320, height: int = 240, seed: int = 0) -> bytes:
    """The same kind of picture in another format (PNG, WEBP, GIF, HEIF...)."""
    if fmt.upper() in ("HEIF", "HEIC"):
        import pillow_heif

        pillow_heif.register_heif_opener()
        fmt = "HEIF"
    out = io.BytesIO()
    photo(width, height, seed).save(out, fmt)
    return out.getvalue()
