"""Opening untrusted images safely: which formats we accept and how we decode them.

Everything here judges a file by its content, never by its name. A file is
first matched against the signatures of the allowed formats (so "not an
image at all" and "an image that is broken" get different answers), then
opened with an explicit format allow-list, checked against the pixel limit
before any pixel is decoded, and decoded once to prove it is whole.

Memory is bounded before decoding. JPEGs are decoded at reduced scale
(``Image.draft``): 1/8 for a check alone, or just above the display size when
the same decode makes the photo's derivatives (``PixelSink``); every
compressed byte is still read, but a 48 MP photo needs 12 MiB instead of 190.
PNG, WebP and HEIC have no such mode, and a progressive JPEG keeps every
coefficient of the whole picture, so their cost is worked out from the header
and anything over ``images.max_decode_mb`` is refused; the decodes that are allowed share that budget box-wide
(``decode_budget``), so the daemon's threads and the build's workers cannot
each hold a big one at once.

Before any of that, the container is walked (``containers``, ``jpeg_scans``): a
file that ends early is refused in every format, and so is one with more
parts than any camera writes (JPEG scans, PNG chunks, WebP frames, HEIC tiles),
which would cost a decoder far more CPU than its size suggests. JPEGs are then
decoded strictly, so a scan cut short shows even when an end marker was put
back after the cut.
"""

from __future__ import annotations

import contextlib
import functools
import math
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from jobgallery import capture_time, containers, jpeg_scans
from jobgallery.decode_budget import DECODES
from jobgallery.errors import BadImage, UnsupportedImage

if TYPE_CHECKING:
    from jobgallery.config import Config

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "HEIF")
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "HEIF": "heic"}
LABELS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC"}
# Pillow reports JPEGs carrying a multi-picture index (many phones write one) as MPO.
SAME_AS = {"MPO": "JPEG"}

ORIENTATION = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
# Orientations 5 to 8 turn the picture a quarter, so width and height swap.
QUARTER_TURNS = (5, 6, 7, 8)

SIGNATURE_BYTES = 16
JPEG_DRAFT_SCALE = 8
MASTER_QUALITY = 90

MIB = 1 << 20
# How many copies of the picture each decoder holds at its peak, measured with Pillow 13 and
# pillow-heif 1.8: PNG decodes straight into it; libheif keeps its own plane beside it; WebP's
# decoder keeps a canvas and the previous frame, and Pillow copies the frame once more.
DECODE_COPIES = {"PNG": 1, "HEIF": 2, "WEBP": 4}
# Bytes per pixel of the full-size copies made before a resize (``resize_cost``): an expanded mode, a premultiplied one.
RESIZE_COPY_BYTES = {"RGBA": 4, "LA": 4, "RGBa": 8, "La": 8, "PA": 8, "P": 4, "1": 1, "YCbCr": 4, "LAB": 4, "HSV": 4}
# The same for a picture with a colour key (PNG tRNS): an RGBA or LA copy and its premultiplied one; 16-bit grey
# is compared as 32-bit integers first, three such copies at once (generator/derivatives.py ``keyed``).
KEYED_COPY_BYTES = {"P": 8, "1": 8, "L": 8, "RGB": 8, "I": 12, "I;16": 12, "I;16L": 12, "I;16B": 12, "I;16N": 12}
# Decodes smaller than this (every baseline JPEG at 1/8 scale up to 130 MP) run without waiting.
FREE_DECODE_BYTES = 8 * MIB
# libjpeg keeps 64 two-byte coefficients per 8x8 block of each component for a progressive scan.
COEFFICIENT_BLOCK_BYTES = 64 * 2

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
    taken_offset: str | None = None

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


@dataclass(frozen=True)
class Limits:
    """How big an untrusted image may be: its pixel count, and the memory its decode may take."""

    max_pixels: int
    max_decode_mb: int

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        return cls(config.images.max_pixels, config.images.max_decode_mb)


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


@functools.cache
def allow_profiles() -> None:
    """Let Pillow inflate a PNG's ICC profile up to ``containers.MAX_ICC_BYTES``, as every other format's.

    Pillow refuses an iCCP chunk inflating past ``MAX_TEXT_CHUNK`` (1 MiB) and
    text chunks too; ``containers.check_png`` caps those at 256 KiB before
    Pillow sees them, so only the profile's limit moves. Only ever raised.
    """
    PngImagePlugin.MAX_TEXT_CHUNK = max(PngImagePlugin.MAX_TEXT_CHUNK, containers.MAX_ICC_BYTES)


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
    with open(path, "rb") as handle:
        return prefix_format(handle.read(SIGNATURE_BYTES))


def prefix_format(prefix: bytes) -> str | None:
    """The allowed format whose signature ``prefix`` (a file's first SIGNATURE_BYTES bytes) starts with, or None."""
    enable_heif()
    Image.init()
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
    allow_profiles()
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
        if len(image.info.get("icc_profile") or b"") > containers.MAX_ICC_BYTES:
            raise containers.icc_too_large(LABELS[claimed])
        yield image


def format_of(image: Image.Image) -> str:
    return SAME_AS.get(image.format, image.format)


# ---------------------------------------------------------------- memory for decoding


def pixel_bytes(mode: str) -> int:
    """Bytes Pillow stores per pixel of ``mode`` (1, L and P take one, I;16 two, every other mode four)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def coefficient_bytes(image: Image.Image, full_size: tuple[int, int]) -> int:
    """What libjpeg keeps for a progressive JPEG of ``full_size``: every 8x8 block of every component."""
    layers = getattr(image, "layer", None) or [("Y", 1, 1, 0)] * 3
    most_h = max(layer[1] for layer in layers)
    most_v = max(layer[2] for layer in layers)
    width, height = full_size
    blocks = sum(
        math.ceil(width * h / most_h / 8) * math.ceil(height * v / most_v / 8) for _name, h, v, _table in layers
    )
    return blocks * COEFFICIENT_BLOCK_BYTES


def decode_cost(image: Image.Image, full_size: tuple[int, int]) -> int:
    """Bytes ``image.load()`` holds at its peak, from the header alone (after any ``draft``).

    The picture in the mode Pillow decodes to, times the copies its decoder
    keeps; a progressive JPEG adds its coefficients, kept at full size
    whatever the draft scale.
    """
    fmt = format_of(image)
    picture = image.width * image.height * pixel_bytes(image.mode)
    if fmt != "JPEG":
        return picture * DECODE_COPIES[fmt]
    return picture + (coefficient_bytes(image, full_size) if image.info.get("progressive") else 0)


def resize_cost(image: Image.Image) -> int:
    """Bytes of the full-size copies a derivative build makes of ``image``'s decoded pixels before shrinking them.

    Palette, bilevel, premultiplied and colour-keyed modes are expanded
    first (generator/derivatives.py ``resizable``), and Pillow resizes a picture
    with transparency through a premultiplied copy of it (``Image.resize``
    converts RGBA to RGBa and LA to La). An upload is refused when its decode
    and these copies together exceed the budget, so every accepted master
    can also be published within it.
    """
    copies = KEYED_COPY_BYTES if "transparency" in image.info else RESIZE_COPY_BYTES
    return image.width * image.height * copies.get(image.mode, RESIZE_COPY_BYTES.get(image.mode, 0))


@contextlib.contextmanager
def decoding(
    image: Image.Image, full_size: tuple[int, int], max_decode_mb: int, *, resizing: bool = False
) -> Iterator[None]:
    """Refuse a decode whose peak (decode plus ``resize_cost``) exceeds ``max_decode_mb``; hold its share meanwhile.

    A check only decodes, so it holds the decode's cost; a derivative build
    (``resizing``) holds the copies too, so the box-wide sum stays within the budget.
    """
    cost = decode_cost(image, full_size)
    peak = cost + resize_cost(image)
    if peak > max_decode_mb * MIB:
        width, height = full_size
        raise BadImage(
            f"the {LABELS[format_of(image)]} image is too large: decoding and resizing its {width}x{height} pixels "
            f"would take about {math.ceil(peak / MIB)} MiB of memory, and at most {max_decode_mb} MiB are allowed"
        )
    held = peak if resizing else cost
    if held < FREE_DECODE_BYTES:
        yield
        return
    with DECODES.hold(held, max_decode_mb * MIB):
        yield


# ---------------------------------------------------------------- validation


Box = jpeg_scans.Box


class PixelSink(Protocol):
    """What makes something of a photo's pixels in the decode that checks it (``generator.derivatives.Maker``).

    Decode once: the pixels an upload is proven whole with are the ones its
    derivatives are made from, inside the same share of the decode budget.
    """

    strict: bool
    """Decode a JPEG strictly (an upload's check, by libjpeg-turbo); else leniently by Pillow, to the same pixels.

    Pillow reads the file in chunks where the strict decode maps all of it:
    a build, whose masters were proven whole when they came in, keeps a 48 MP
    photo's file out of its memory peak."""

    def draft_target(self, image: Image.Image) -> tuple[int, int]:
        """The smallest size (before orientation) the pixels are wanted at: a JPEG decodes at the scale just above."""

    def before_load(self, image: Image.Image) -> None:
        """Adjust ``image`` (opened, not decoded) before its pixels are decoded."""

    def take(self, master: Image.Image, pixels: Image.Image, box: Box, target: tuple[int, int]) -> object:
        """Use ``pixels`` (``box`` of them is the picture; may be ``master`` itself) and close them.

        ``target`` is what ``draft_target`` asked for, before ``master`` was drafted to a smaller size."""


def inspect(path: Path, limits: Limits) -> PhotoInfo:
    """Prove that the file at ``path`` is a whole, allowed image and read what we keep about it."""
    return inspect_pixels(path, limits, None)[0]


def inspect_pixels(path: Path, limits: Limits, sink: PixelSink | None) -> tuple[PhotoInfo, object]:
    """``inspect``, handing the decoded pixels to ``sink`` on the way: what it made comes back beside the info."""
    check_structure(path)
    made = None
    with open_image(path, limits.max_pixels) as image:
        fmt = format_of(image)
        width, height = image.size
        with decoded(image, path, limits.max_decode_mb, sink) as (pixels, box, target):
            if fmt == "PNG":
                containers.check_png_pixels(path)
            # Only now: Pillow decodes a whole PNG to look for EXIF after its pixels.
            exif = read_exif(image)
            taken = capture_time.read(path, fmt, image.info, exif)
            if sink is not None:
                made = sink.take(image, pixels, box, target)
            pixels.close()
            image.close()  # the pixels go before the budget's share does
    orientation = exif_orientation(exif)
    if orientation in QUARTER_TURNS:
        width, height = height, width
    taken_at, offset = (taken.taken_at, taken.offset_text) if taken else (None, None)
    return PhotoInfo(fmt, width, height, orientation, taken_at, exif_location(exif), offset), made


@contextlib.contextmanager
def decoded(
    image: Image.Image, path: Path, max_decode_mb: int, sink: PixelSink | None = None
) -> Iterator[tuple[Image.Image, Box, tuple[int, int]]]:
    """Decode every compressed byte of ``image`` (opened from ``path``) so damage shows before we store.

    Yields the decoded pixels, the part of them that is the picture and the
    size the sink asked for (the picture's own without one). The decode's
    share of the budget is held until the block ends: the pixels stay in
    memory until the caller closes them, so releasing the share when the
    decode returned let four checks of 182 MiB each run at once under a
    384 MiB budget (bench/memory_budget.py). With a ``sink`` the share covers
    its resize too.

    A JPEG is decoded by libjpeg-turbo through simplejpeg, not Pillow: Pillow
    drops the warnings that tell a scan cut short (``jpeg_scans``), and its
    ``draft`` scales only by halves. Without a sink it is decoded at 1/8
    scale and the pixels are thrown away; with one, an RGB or grey picture at
    the smallest M/8 scale that covers the sink's size, strictly (a lenient
    sink, a build, has Pillow decode what a strict decode refuses). Pillow's
    header, drafted to the same size by halves, gives the cost (at least the
    decode's), and Pillow decodes the few files whose harmless warnings stop
    the strict decode (and CMYK ones, after it), at that drafted scale.
    """
    if sink is not None:
        sink.before_load(image)
    target = image.size if sink is None else sink.draft_target(image)
    if format_of(image) != "JPEG":
        with decoding(image, image.size, max_decode_mb, resizing=sink is not None):
            load(image)
            yield image, (0.0, 0.0, float(image.width), float(image.height)), target
        return
    full_size = width, height = image.size
    eighth = (max(1, width // JPEG_DRAFT_SCALE), max(1, height // JPEG_DRAFT_SCALE))
    drafted = image.draft(None, eighth if sink is None else target)
    box = tuple(float(v) for v in drafted[1]) if drafted else (0.0, 0.0, float(width), float(height))
    with decoding(image, full_size, max_decode_mb, resizing=sink is not None):
        if sink is None:
            if not jpeg_scans.decode_strictly(path):
                load(image)
            yield image, box, target
            return
        scaled = jpeg_scans.decode_pixels(path, full_size, target, image.mode, lenient=not sink.strict)
        if scaled is None:
            load(image)
            yield image, box, target
        else:
            yield *scaled, target


def load(image: Image.Image) -> None:
    try:
        image.load()
    except DECODE_ERRORS:
        label = LABELS[format_of(image)]
        raise BadImage(f"the {label} image is damaged or cut short and cannot be decoded") from None


STRUCTURE_CHECKS = {
    "JPEG": jpeg_scans.check_scans,
    "PNG": containers.check_png,
    "WEBP": containers.check_webp,
    "HEIF": containers.check_heif,
}


def check_structure(path: Path) -> None:
    """Walk the container of an allowed format before any decoder sees it (nothing for other content)."""
    claimed = signature_format(path)
    if claimed is not None:
        STRUCTURE_CHECKS[claimed](path)


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


def shrink_master(source: Path, target: BinaryIO, max_px: int, limits: Limits) -> tuple[int, int]:
    """Write a copy of ``source`` with its long edge cut to ``max_px`` to ``target``; return its pixel size.

    Same format; EXIF is kept (orientation, date, GPS) without its embedded
    thumbnail, and so is the colour profile.
    """
    with open_image(source, limits.max_pixels) as image:
        fmt = format_of(image)
        icc = image.info.get("icc_profile")
        try:
            small = reduced(image, max_px, limits.max_decode_mb)
        except DECODE_ERRORS:
            raise BadImage(f"the {LABELS[fmt]} image is damaged and cannot be decoded") from None
        exif = read_exif(image)
    options = {"icc_profile": icc} if icc else {}
    if exif is not None:
        options["exif"] = exif.tobytes()
    if fmt != "PNG":
        options["quality"] = MASTER_QUALITY
    enable_heif()
    small.save(target, fmt, **options)
    return small.size


def reduced(image: Image.Image, max_px: int, max_decode_mb: int) -> Image.Image:
    """A copy no larger than ``max_px`` on its long edge, decoding JPEGs at the smallest scale that allows it."""
    full_size = width, height = image.size
    ratio = max_px / max(width, height)
    image.draft(None, (max(1, round(width * ratio)), max(1, round(height * ratio))))
    with decoding(image, full_size, max_decode_mb):
        image.load()  # here, not when saved: a draft that already fits leaves ``thumbnail`` nothing to do
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        image.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    return image
