"""Opening untrusted images safely: which formats we accept and how we decode them.

Everything here judges a file by its content, never by its name. A file is
first matched against the signatures of the allowed formats (so "not an
image at all" and "an image that is broken" get different answers), then
opened with an explicit format allow-list, checked against the pixel limit
before any pixel is decoded, and decoded once to prove it is whole. JPEGs are
decoded at 1/8 scale (``Image.draft``): every compressed byte is still read,
so truncation is caught, but a 48 MP photo needs a few MiB instead of 150.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from PIL import Image, UnidentifiedImageError

from jobgallery.errors import BadImage, UnsupportedImage

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
LABELS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC"}
# Pillow reports JPEGs carrying a multi-picture index (many phones write one) as MPO.
SAME_AS = {"MPO": "JPEG"}

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATETIME_ORIGINAL = 0x9003
DATETIME_DIGITIZED = 0x9004
EXIF_TIME = "%Y:%m:%d %H:%M:%S"
# Orientations 5 to 8 turn the picture a quarter, so width and height swap.
QUARTER_TURNS = (5, 6, 7, 8)

SIGNATURE_BYTES = 16
JPEG_DRAFT_SCALE = 8
MASTER_QUALITY = 90

# Broken EXIF shows up as any of these, depending on where the parser trips.
EXIF_ERRORS = (ValueError, TypeError, KeyError, IndexError, ZeroDivisionError, OverflowError, SyntaxError, OSError)
# What Pillow and its plugins raise for data they cannot decode.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, Image.DecompressionBombError)


@dataclass(frozen=True)
class PhotoInfo:
    """What ingest learns from a photo's content; sizes are as the photo is meant to be seen."""

    format: str
    width: int
    height: int
    orientation: int
    taken_at: str | None
    location: str | None

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


@functools.cache
def enable_heif() -> None:
    """Teach Pillow to read HEIC/HEIF (iPhone photos); harmless to call more than once."""
    import pillow_heif

    pillow_heif.register_heif_opener()


# ---------------------------------------------------------------- opening safely

_limit_lock = threading.Lock()


def allow_pixels(max_pixels: int) -> None:
    """Make sure Pillow's own bomb check never fires below our configured limit.

    Pillow keeps one process-wide ``MAX_IMAGE_PIXELS`` (about 89 MP); a
    configured limit above it would otherwise be cut short. The value is only
    ever raised, never set back, so threads never see it move under them;
    the limit that refuses a photo is the per-call check in ``open_image``.
    """
    with _limit_lock:
        current = Image.MAX_IMAGE_PIXELS
        if current is not None and current < max_pixels:
            Image.MAX_IMAGE_PIXELS = max_pixels


def bomb_warnings_are_errors() -> None:
    """Turn Pillow's DecompressionBombWarning into an exception, once per process.

    A filter is only added when missing (test runners reset filters), so the
    list is never rewritten while another thread reads it.
    """
    for action, _message, category, _module, _line in warnings.filters:
        if action == "error" and category is Image.DecompressionBombWarning:
            return
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def signature_format(path: Path) -> str | None:
    """The allowed format whose signature the file starts with, or None."""
    enable_heif()
    Image.init()
    with open(path, "rb") as handle:
        prefix = handle.read(SIGNATURE_BYTES)
    for name in ALLOWED_FORMATS:
        accept = Image.OPEN[name][1]
        result = accept(prefix) if accept else False
        if result and not isinstance(result, str):
            return name
    return None


@contextlib.contextmanager
def open_image(path: Path, max_pixels: int) -> Iterator[Image.Image]:
    """Open an untrusted file as one of the allowed formats, refusing bombs before decoding.

    Raises UnsupportedImage when the content is no allowed format at all and
    BadImage when it claims to be one but is broken or too large.
    """
    claimed = signature_format(path)
    if claimed is None:
        raise UnsupportedImage("not a supported image: JPEG, PNG, WebP or HEIC expected")
    allow_pixels(max_pixels)
    bomb_warnings_are_errors()
    try:
        image = Image.open(path, formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise BadImage(f"the image has more than the allowed {max_pixels} pixels") from None
    except (UnidentifiedImageError, *DECODE_ERRORS):
        raise BadImage(f"the {LABELS[claimed]} image is damaged and cannot be read") from None
    with image:
        width, height = image.size
        if width < 1 or height < 1 or width * height > max_pixels:
            raise BadImage(f"the image has {width}x{height} pixels; at most {max_pixels} are allowed")
        yield image


def format_of(image: Image.Image) -> str:
    return SAME_AS.get(image.format, image.format)


# ---------------------------------------------------------------- validation


def inspect(path: Path, max_pixels: int) -> PhotoInfo:
    """Prove that the file at ``path`` is a whole, allowed image and read what we keep about it."""
    with open_image(path, max_pixels) as image:
        fmt = format_of(image)
        width, height = image.size
        exif = read_exif(image)
        decode_once(image)
    orientation = exif_orientation(exif)
    if orientation in QUARTER_TURNS:
        width, height = height, width
    return PhotoInfo(fmt, width, height, orientation, exif_taken_at(exif), exif_location(exif))


def decode_once(image: Image.Image) -> None:
    """Decode every compressed byte, at 1/8 scale for JPEG, so damage shows before we store."""
    if format_of(image) == "JPEG":
        width, height = image.size
        image.draft(None, (max(1, width // JPEG_DRAFT_SCALE), max(1, height // JPEG_DRAFT_SCALE)))
    try:
        image.load()
    except DECODE_ERRORS:
        raise BadImage(f"the {LABELS[format_of(image)]} image is damaged or cut short and cannot be decoded") from None


# ---------------------------------------------------------------- EXIF


def read_exif(image: Image.Image) -> Image.Exif | None:
    """The photo's EXIF, or None when it is missing or unreadable (never an error)."""
    try:
        return image.getexif()
    except EXIF_ERRORS:
        return None


def exif_orientation(exif: Image.Exif | None) -> int:
    """EXIF orientation 1 to 8; anything else counts as 1 (upright)."""
    try:
        value = int(exif.get(ORIENTATION, 1)) if exif is not None else 1
    except EXIF_ERRORS:
        return 1
    return value if 1 <= value <= 8 else 1


def exif_taken_at(exif: Image.Exif | None) -> str | None:
    """DateTimeOriginal (else DateTimeDigitized) as ``YYYY-MM-DDTHH:MM:SS``, local camera time."""
    if exif is None:
        return None
    try:
        ifd = exif.get_ifd(EXIF_IFD)
        values = (ifd.get(DATETIME_ORIGINAL), ifd.get(DATETIME_DIGITIZED))
    except EXIF_ERRORS:
        return None
    for value in values:
        taken = parse_exif_time(value)
        if taken:
            return taken
    return None


def parse_exif_time(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\0 ")[:19], EXIF_TIME).isoformat(timespec="seconds")
    except ValueError:
        return None


def exif_location(exif: Image.Exif | None) -> str | None:
    """GPS position as ``"lat,lon"`` in decimal degrees (6 places, about 10 cm), or None."""
    if exif is None:
        return None
    try:
        gps = exif.get_ifd(GPS_IFD)
        lat = gps_degrees(gps.get(2), gps.get(1), "S")
        lon = gps_degrees(gps.get(4), gps.get(3), "W")
    except EXIF_ERRORS:
        return None
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return f"{lat:.6f},{lon:.6f}"


def gps_degrees(value: object, ref: object, negative: str) -> float | None:
    """Degrees, minutes, seconds (rationals) and a hemisphere letter to signed decimal degrees."""
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        return None
    degrees = sum(float(part) / scale for part, scale in zip(value, (1, 60, 3600), strict=True))
    if not math.isfinite(degrees):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    hemisphere = ref.strip("\0 ").upper() if isinstance(ref, str) else ""
    return -degrees if hemisphere == negative else degrees


# ---------------------------------------------------------------- smaller masters


def shrink_master(source: Path, target: BinaryIO, max_px: int, max_pixels: int) -> tuple[int, int]:
    """Write a copy of ``source`` with its long edge cut to ``max_px`` to ``target``; return its pixel size.

    Same format; EXIF is kept (orientation, date, GPS) without its embedded
    thumbnail, and so is the colour profile.
    """
    with open_image(source, max_pixels) as image:
        fmt = format_of(image)
        exif = read_exif(image)
        icc = image.info.get("icc_profile")
        try:
            small = reduced(image, max_px)
        except DECODE_ERRORS:
            raise BadImage(f"the {LABELS[fmt]} image is damaged and cannot be decoded") from None
    options = {"icc_profile": icc} if icc else {}
    if exif is not None:
        options["exif"] = exif.tobytes()
    if fmt != "PNG":
        options["quality"] = MASTER_QUALITY
    enable_heif()
    small.save(target, fmt, **options)
    return small.size


def reduced(image: Image.Image, max_px: int) -> Image.Image:
    """A copy no larger than ``max_px`` on its long edge, decoding JPEGs at the smallest scale that allows it."""
    width, height = image.size
    ratio = max_px / max(width, height)
    image.draft(None, (max(1, round(width * ratio)), max(1, round(height * ratio))))
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    return image
