"""Derivative images: the display image, the thumbnails a gallery page shows and the zoom image.

Masters are untrusted originals of any size, format, pixel mode and colour
space. A JPEG is decoded at reduced scale, libjpeg-turbo's M/8 just above the
zoom image's size or at it when one is close (then the zoom image needs no
resize), which is where most of the time and memory goes; the display image is
made from the zoom image's pixels and the thumbnails from the display image's,
never from the master. The decode is the one that
checks the photo (``images.inspect_pixels`` with ``Maker``): an upload or an
import makes the derivatives in the same pass (``generator.ingest_output``),
and a build makes them the same way, to the same bytes. Every derivative is an 8-bit
sRGB JPEG (``generator.colour``), upright, with transparency on white, and
carries no metadata at all: no EXIF (GPS, camera serial), no copied profile.

Sizes follow the box each derivative is shown in (``display_fit``,
``Recipe.box``): the display image has a pixel budget with a minimum short
edge; a thumbnail is the whole photo at the height of a gallery row, at 1x and
2x, each also as WebP (about half the bytes at the same PSNR, ``bench/job_page.py``);
the zoom image, loaded only when a viewer zooms past the display image, has
the area of a 4:3 picture ``zoom_size`` wide (``Recipe.zoom_fit``), a JPEG's
within 5 % of it (``Maker.draft_target``).

Each file's name carries a hash of the master's content and of the settings
that made it, so a name always means the same bytes and can be cached forever.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageMath

from generator import colour
from jobgallery.errors import JobGalleryError
from jobgallery.images import (
    DECODE_ERRORS,
    EXIF_ERRORS,
    ORIENTATION,
    Box,
    Limits,
    enable_heif,
    format_of,
    inspect_pixels,
)
from jobgallery.jpeg_scans import nearest_scale
from jobgallery.storage import atomic_write, is_disk_full

# Bump when a change in this module alters the bytes of derivatives.
# 2: colour converted to sRGB, no profile written, 16-bit scaled, sizes by box.
# 3: a PNG colour key (tRNS on RGB or grey) is transparency, flattened on white like an alpha channel.
# 4: decoded once with the upload's check; thumbnails from the smallest one that covers them; colour from bytes.
# 5: a JPEG's zoom image is libjpeg-turbo's decode at the M/8 scale nearest its size, when one is close, unresized.
PIPELINE = 5

KINDS = ("display", "thumb", "thumb2x", "zoom", "thumb-webp", "thumb2x-webp")
# Kinds encoded as WebP (the same pixels as the JPEG kind they are named after); every other kind is JPEG.
WEBP_SUFFIX = "-webp"

# What Pillow raises for a file it cannot read; a photo that fails is reported, the build goes on.
FAILURES = (*DECODE_ERRORS, MemoryError)

# The JPEG decoder's reduced scale already filtered the master, leaving a step under 2x for which
# bicubic looks the same as Lanczos at two thirds of the cost; thumbnails, where detail shows, use Lanczos.
DISPLAY_FILTER = Image.Resampling.BICUBIC
THUMB_FILTER = Image.Resampling.LANCZOS

# Modes Pillow resizes as they are (16-bit and float grey are scaled to 8 bits after the resize; RGBX, a JPEG
# decoded by libjpeg-turbo, is made RGB after it).
RESIZABLE_MODES = ("RGB", "RGBX", "L", "RGBA", "LA", "CMYK", "I;16", "I;16L", "I;16B", "I;16N", "I", "F")
# Modes whose transparency can be one colour key (PNG tRNS): grey at any depth, and RGB.
KEYED_MODES = ("1", "L", "RGB", "I", "I;16", "I;16L", "I;16B", "I;16N")
# Pillow widens 2- and 4-bit grey PNG samples to 0..255 but keeps their tRNS key as stored: the factor it misses.
KEY_SCALES = {"L;2": 85, "L;4": 17}
# The widest shape (long edge over short edge) whose display image keeps the minimum short edge.
ASPECT_LIMIT = 20
# A thumbnail is as tall as a 4:3 one ``thumb_size`` wide (the gallery row's height, with room to grow)
# and at most ROW_WIDTH times ``thumb_size`` wide: the page's widest row, which a panorama fills alone.
CELL_ASPECT = (4, 3)
ROW_WIDTH = 4
# Photos at least this much wider than tall get a gallery row of their own (templates/static/gallery.css).
PANORAMA_ASPECT = 2.5
# EXIF orientations whose transpose swaps width and height.
TURNED = (5, 6, 7, 8)
# EXIF orientation -> the transpose that makes the picture upright.
ORIENTATIONS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

log = logging.getLogger("generator.derivatives")


# ---------------------------------------------------------------- names


@dataclass(frozen=True)
class Recipe:
    """The settings that decide derivatives' bytes (and so their names)."""

    display_size: int
    display_quality: int
    thumb_size: int
    thumb_quality: int
    zoom_size: int = 2560
    thumb_webp_quality: int = 80

    @classmethod
    def from_config(cls, config) -> Recipe:
        images = config.images
        sizes = (images.display_size, images.display_quality, images.thumb_size, images.thumb_quality)
        return cls(*sizes, images.zoom_size, images.thumb_webp_quality)

    def box(self, kind: str, size: tuple[int, int]) -> tuple[int, int]:
        """The thumbnail of a photo of ``size`` (any scale), in pixels: the whole photo at the row's height.

        At 1x with the default 300: 225 px tall (300 x 225 for 4:3, 75 x 225 for
        1:3), at most 1200 px wide; a panorama, alone in its row, is 1200 px wide
        (12000 x 3000 gives 1200 x 300). Doubled for 2x.
        """
        scale = 2 if kind == "thumb2x" else 1
        height, widest = self.thumb_size * CELL_ASPECT[1] / CELL_ASPECT[0] * scale, self.thumb_size * ROW_WIDTH * scale
        aspect = size[0] / size[1]
        width = widest if aspect >= PANORAMA_ASPECT else min(widest, height * aspect)
        return max(1, round(width)), max(1, round(width / aspect))

    def zoom_fit(self, size: tuple[int, int]) -> tuple[int, int]:
        """The zoom image of a master of ``size``: the area of a 4:3 picture ``zoom_size`` wide, at its own shape.

        2560 x 1920 for a 4:3 photo at the default; a 12000 x 3000 panorama,
        whose display image is already 2560 px long, gets 4434 x 1109. Never
        enlarged, never under the display image's size.
        """
        display = display_fit(size, self.display_size)
        scale = min(1.0, math.sqrt(self.zoom_size * round(self.zoom_size * 3 / 4) / (size[0] * size[1])))
        zoom = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
        return zoom if zoom[0] > display[0] else display

    def quality(self, kind: str) -> int:
        if kind.endswith(WEBP_SUFFIX):
            return self.thumb_webp_quality
        return self.display_quality if kind in ("display", "zoom") else self.thumb_quality

    def params(self, kind: str) -> str:
        """Everything the bytes of ``kind`` depend on besides the master.

        Every kind is made from the zoom image's pixels (the display image from
        them, the thumbnails from the display image's), so ``zoom_size`` is in
        every name: a photo bigger than the zoom image decodes at another scale.
        """
        if kind.endswith(WEBP_SUFFIX):
            return f"{self.params(kind.removesuffix(WEBP_SUFFIX))}w{self.thumb_webp_quality}"
        if kind == "display":
            return f"d{self.display_size}z{self.zoom_size}q{self.display_quality}"
        if kind == "zoom":
            return f"d{self.display_size}z{self.zoom_size}aq{self.display_quality}"
        scale = 2 if kind == "thumb2x" else 1
        return f"d{self.display_size}z{self.zoom_size}r{self.thumb_size * scale}w{ROW_WIDTH}q{self.thumb_quality}"


def derivative_name(image_id: int, sha256: str, kind: str, recipe: Recipe) -> str:
    """Content-addressed file name: the same name always holds the same bytes.

    20 hex digits: 12 from the master's content (the same in all of a photo's
    names) and 8 from the pipeline and the settings of ``kind`` (the same for
    every photo). A job page names each photo's six derivatives side by side,
    so gzip sends the repeated parts almost free: a 1,000-photo page went from
    148 kB to 87 kB gzipped (``bench/job_page.py``).
    """
    return f"{image_id}-{kind}-{photo_digest(sha256)}{settings_digest(recipe, kind)}.{suffix_of(kind)}"


def photo_digest(sha256: str) -> str:
    return hashlib.sha256(f"{PIPELINE}:{sha256}".encode()).hexdigest()[:12]


@functools.cache
def settings_digest(recipe: Recipe, kind: str) -> str:
    """The part of a name that is the same for every photo (a site build names thousands)."""
    return hashlib.sha256(f"{PIPELINE}:{kind}:{recipe.params(kind)}".encode()).hexdigest()[:8]


def suffix_of(kind: str) -> str:
    return "webp" if kind.endswith(WEBP_SUFFIX) else "jpg"


# ---------------------------------------------------------------- tasks


@dataclass(frozen=True)
class PhotoTask:
    """One photo's missing derivatives: what a worker process needs, all picklable."""

    image_id: int
    filename: str
    master: str
    folder: str
    outputs: tuple[tuple[str, str], ...]  # (kind, file name) pairs to write
    recipe: Recipe
    limits: Limits
    pixels: int = 0  # the master's, from its row: a big one is made in a worker process, never in the build's


@dataclass
class PhotoResult:
    """Sizes of what was written, the placeholder colour, or why nothing was; ``notes`` on what was worked around."""

    image_id: int
    filename: str
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    color: str | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    disk_full: bool = False  # the error was the output's disk being full: worth trying again later


def make_photo(task: PhotoTask) -> PhotoResult:
    """Write the task's derivatives; a bad master gives a result with ``error`` set instead of raising."""
    try:
        result = write_derivatives(task)
    except OutputError as exc:
        return PhotoResult(task.image_id, task.filename, error=str(exc), disk_full=exc.disk_full)
    except JobGalleryError as exc:
        return PhotoResult(task.image_id, task.filename, error=str(exc))
    except FAILURES as exc:
        return PhotoResult(task.image_id, task.filename, error=describe_error(exc))
    for note in result.notes:
        log.warning("%s (photo %d): %s", task.filename, task.image_id, note)
    return result


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "master file is missing"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode the image"
    text = str(exc).split("\n")[0]
    return f"cannot decode image: {text}" if text else f"cannot decode image ({type(exc).__name__})"


def write_derivatives(task: PhotoTask) -> PhotoResult:
    made = make_derivatives(Path(task.master), task.recipe, task.limits)
    result = PhotoResult(task.image_id, task.filename, color=made.color, notes=made.notes)
    for kind, name in task.outputs:
        data, size = made.files[kind]
        publish(Path(task.folder) / name, data)
        result.sizes[kind] = size
    return result


class OutputError(Exception):
    """A derivative could not be written (disk full, permissions): not the master's fault."""

    def __init__(self, message: str, disk_full: bool) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def publish(path: Path, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as exc:
        message = f"cannot write {path.name} to the output folder: {exc.strerror or exc}"
        raise OutputError(message, is_disk_full(exc)) from None


# ---------------------------------------------------------------- pixels


@dataclass
class Display:
    """The display image's pixels (sRGB, RGB or L, upright, no ``info``) and what was noticed making them."""

    image: Image.Image
    notes: list[str] = field(default_factory=list)


@dataclass
class Made:
    """A photo's derivatives, encoded: kind -> (JPEG bytes, pixel size); picklable, so a worker can hand them back."""

    files: dict[str, tuple[bytes, tuple[int, int]]]
    color: str
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Maker:
    """Makes every kind of derivative from the pixels a photo's check decodes (``images.PixelSink``).

    The build and the ingest both make derivatives through this one class,
    and both decode a JPEG with libjpeg-turbo through simplejpeg at the same
    scale (the build leniently: Pillow decodes a master the strict decode
    refuses), so the bytes are the same whichever made them
    (tests/test_decode_once.py).
    """

    recipe: Recipe
    strict: bool = True

    def draft_target(self, image: Image.Image) -> tuple[int, int]:
        """The zoom image's size: the largest derivative, the others are made from its pixels.

        A JPEG's is the size libjpeg-turbo decodes it to at the scale nearest
        ``Recipe.zoom_fit``, when one is within 5 % of its area
        (``jpeg_scans.nearest_scale``): 2520 x 1890 for a 4032 x 3024 photo,
        made with no resize.
        """
        zoom = self.recipe.zoom_fit(image.size)
        if format_of(image) != "JPEG":
            return zoom
        return nearest_scale(image.size, zoom, display_fit(image.size, self.recipe.display_size))

    def before_load(self, image: Image.Image) -> None:
        scale_colour_key(image)

    def take(self, master: Image.Image, pixels: Image.Image, box: Box, target: tuple[int, int]) -> Made:
        display = display_fit(master.size, self.recipe.display_size)
        if exif_orientation(master) in TURNED:
            display = (display[1], display[0])
        zoom = display_from(master, pixels, box, target)
        return encode_all(zoom, display, self.recipe)


def make_derivatives(path: Path, recipe: Recipe, limits: Limits) -> Made:
    """Check the master as an upload is checked, but for the strict JPEG decode, and make its derivatives.

    The decode takes its share of the process's decode budget, like an
    upload's check: a master stored before a lower budget was set fails
    this photo instead of exhausting the box's memory. The container is
    walked first, as an upload's is: a master that came in before those
    checks or by restore fails in milliseconds, not after a 25 s decode.
    """
    enable_heif()
    return inspect_pixels(path, limits, Maker(recipe, strict=False))[1]


class DisplayMaker(Maker):
    """The display image alone, for callers that look at pixels rather than files."""

    def draft_target(self, image: Image.Image) -> tuple[int, int]:
        return display_fit(image.size, self.recipe.display_size)

    def take(self, master: Image.Image, pixels: Image.Image, box: Box, target: tuple[int, int]) -> Display:
        return display_from(master, pixels, box, target)


def load_display(path: Path, display_size: int, limits: Limits) -> Display:
    """The master's display image (``display_from``), decoded as ``make_derivatives`` decodes it."""
    enable_heif()
    return inspect_pixels(path, limits, DisplayMaker(Recipe(display_size, 0, 0, 0)))[1]


def display_from(master: Image.Image, pixels: Image.Image, box: Box, target: tuple[int, int]) -> Display:
    """The display image (``display_fit``) from decoded pixels: upright, 8 bits, sRGB, transparency flattened.

    ``pixels`` are ``master`` itself or a JPEG's pixels decoded apart from
    it; both are closed here, as soon as the first resize pass is done.
    Colour is converted at display size, where it costs a few milliseconds.
    """
    description = colour.describe(master)
    orientation = exif_orientation(master)
    image = resizable(pixels)
    if image.size == target and box == (0.0, 0.0, float(image.width), float(image.height)):
        # A picture of its own, so the decode can go: libjpeg-turbo's RGBX is made RGB here rather than copied.
        image = image.convert("RGB") if image.mode == "RGBX" else image.copy()
    else:
        image = resize_lean(image, pixels, target, box)
    master.close()
    pixels.close()
    return finish(image, description, orientation)


def encode_all(zoom: Display, display_size: tuple[int, int], recipe: Recipe) -> Made:
    """Every kind of ``KINDS`` from the zoom image's pixels: the display image, then thumbnails from it.

    ``display_size`` is ``display_fit`` of the master, turned as the picture
    is. Each thumbnail is encoded as JPEG and as WebP; the larger first, each
    from the smallest picture made so far that covers it.
    """
    image = zoom.image
    if image.size != display_size:
        image = image.resize(display_size, DISPLAY_FILTER)
    files = {
        "zoom": (encode(zoom.image, recipe.quality("zoom"), progressive=False), zoom.image.size),
        "display": (encode(image, recipe.quality("display")), image.size),
    }
    pictures = [image]
    for kind in ("thumb2x", "thumb"):
        box = recipe.box(kind, image.size)
        thumb = thumbnail(min((p for p in pictures if covers(p, box)), key=area, default=image), box)
        pictures.append(thumb)
        files[kind] = (encode(thumb, recipe.quality(kind)), thumb.size)
        webp = kind + WEBP_SUFFIX
        files[webp] = (encode(thumb, recipe.quality(webp), webp=True), thumb.size)
    return Made(files, encoded_color(files["thumb"][0]), zoom.notes)


def covers(picture: Image.Image, box: tuple[int, int]) -> bool:
    """``picture`` is at least ``box`` and exactly of its shape: a thumbnail already cropped to it needs no crop."""
    return picture.width >= box[0] and picture.height >= box[1] and picture.width * box[1] == picture.height * box[0]


def area(picture: Image.Image) -> int:
    return picture.width * picture.height


def finish(image: Image.Image, description: colour.Description, orientation: int) -> Display:
    """Resized pixels of any ``RESIZABLE_MODES`` mode to the display image: 8 bits, sRGB, upright, opaque."""
    if image.mode == "RGBX":
        image = image.convert("RGB")
    image, note = colour.to_srgb(eight_bit(image), description)
    return Display(flatten(upright(image, orientation)), [note] if note else [])


def display_fit(size: tuple[int, int], display_size: int) -> tuple[int, int]:
    """Display size for a master of ``size``: a pixel budget, a minimum short edge, never enlarged.

    The budget is the area of a 4:3 picture ``display_size`` wide (1024 x 768
    by default), so 4:3 photos keep that size. A panorama's short edge is
    raised to ``min_short_edge`` (640 by default: a 12000 x 3000 panorama gets
    2560 x 640) so it opens big enough to inspect, up to a long edge of 20
    short edges (the widest shape a thumbnail is promised sharp for).
    """
    width, height = size
    short, long = min(size), max(size)
    scale = math.sqrt(display_size * round(display_size * 3 / 4) / (width * height))
    scale = max(scale, min_short_edge(display_size) / short)
    scale = min(scale, ASPECT_LIMIT * min_short_edge(display_size) / long)
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def min_short_edge(display_size: int) -> int:
    """640 px for 1024: wide enough for a 2x thumbnail of a tall photo at the default 300 px cell."""
    return round(display_size * 5 / 8)


def exif_orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(ORIENTATION, 1)
    except EXIF_ERRORS:
        return 1
    return value if value in ORIENTATIONS else 1


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """Apply the EXIF orientation to the pixels (the same table as ``ImageOps.exif_transpose``)."""
    method = ORIENTATIONS[orientation]
    return image if method is None else image.transpose(method)


def resize_lean(image: Image.Image, master: Image.Image, target: tuple[int, int], box: tuple) -> Image.Image:
    """Resize in two passes, freeing the decoded master between them, to keep the peak low.

    A single ``resize`` holds the source, a full-height intermediate and the
    result at once; for a 48 MP JPEG that is 3 MiB more at the worker's peak.
    """
    left, top, right, bottom = box
    tall = image.resize((image.width, target[1]), DISPLAY_FILTER, box=(0, top, image.width, bottom))
    image.close()
    master.close()
    return tall.resize(target, DISPLAY_FILTER, box=(left, 0, right, target[1]))


def resizable(image: Image.Image) -> Image.Image:
    """A mode that resizes right: palettes, bilevel, premultiplied and colour-keyed modes are expanded.

    16-bit and float grey resize as they are and are scaled to 8 bits after
    (``eight_bit``), on display-size pixels rather than the master's. A
    colour key (PNG ``tRNS`` on RGB or grey, ``info["transparency"]``)
    becomes an alpha channel, so ``flatten`` puts those pixels on white.
    """
    if "transparency" in image.info and image.mode in KEYED_MODES:
        return keyed(image)
    if image.mode in RESIZABLE_MODES:
        return image
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if image.mode in ("1", "La"):
        return image.convert("LA" if image.mode == "La" else "L")
    if image.mode in ("RGBa", "RGBA"):
        return image.convert("RGBA")
    return image.convert("RGB")


def keyed(image: Image.Image) -> Image.Image:
    """RGBA or LA from a colour-keyed picture: alpha 0 exactly where a pixel equals the key, 255 elsewhere.

    Pillow makes the alpha itself for 8-bit grey and RGB; 16-bit grey is
    compared at 16 bits (Pillow would clip it first) and scaled to 8 bits
    here, at full size: the peak is three 32-bit copies, the picture, the
    key as a picture and the comparison (``KEYED_COPY_BYTES``; 12 bytes a
    pixel measured with ``ru_maxrss``, besides the resize's own).
    """
    if not image.mode.startswith("I"):
        return image.convert("RGBA" if image.mode == "RGB" else "LA")
    key = image.info["transparency"]
    wide = image.convert("I")
    keyed_out = ImageMath.lambda_eval(lambda args: args["notequal"](args["grey"], key), grey=wide).convert("L")
    alpha = keyed_out.point(lambda v: 255 if v else 0)
    return Image.merge("LA", (eight_bit(wide), alpha))


def scale_colour_key(master: Image.Image) -> None:
    """Give a 2- or 4-bit grey PNG's key the scale of its decoded samples (3 or 15 stand for 255); before ``load``."""
    key = master.info.get("transparency")
    rawmode = master.tile[0].args if master.tile else None
    if isinstance(key, int) and isinstance(rawmode, str) and rawmode in KEY_SCALES:
        master.info["transparency"] = key * KEY_SCALES[rawmode]


def eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit grey scaled to 8 bits, rounded: 0..65535 (``I;16*``, ``I``) or 0.0..1.0 (``F``) to 0..255.

    ``convert("L")`` would clip them instead (a 16-bit ramp turns white).
    16-bit RGB(A) PNGs reach us as 8-bit already (Pillow keeps each sample's high byte).
    """
    if image.mode == "F":
        return image.point(lambda v: v * 255 + 0.5).convert("L")
    if image.mode.startswith("I"):
        return (image if image.mode == "I" else image.convert("I")).point(lambda v: v / 257 + 0.5).convert("L")
    return image


def flatten(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: put transparent pixels on white (a neutral background); drop every ``info`` entry."""
    if image.mode in ("RGBA", "LA"):
        opaque_mode = image.mode[:-1]
        background = Image.new(opaque_mode, image.size, (255,) * len(opaque_mode))
        background.paste(image.convert(opaque_mode), mask=image.getchannel("A"))
        image = background
    image.info = {}
    return image


def thumbnail(display: Image.Image, box: tuple[int, int]) -> Image.Image:
    """The photo at ``box``, never enlarged; its centre at the box's aspect ratio.

    ``Recipe.box`` has the photo's own shape, so what is cut is under a pixel of rounding.
    """
    width, height = display.size
    box_w, box_h = box
    crop_w, crop_h = min(width, height * box_w / box_h), min(height, width * box_h / box_w)
    left, top = (width - crop_w) / 2, (height - crop_h) / 2
    target = (box_w, box_h) if crop_w >= box_w else (max(1, round(crop_w)), max(1, round(crop_h)))
    if target == display.size:
        return display
    resized = display.resize(target, THUMB_FILTER, box=(left, top, left + crop_w, top + crop_h))
    resized.info = {}
    return resized


def encode(image: Image.Image, quality: int, webp: bool = False, progressive: bool = True) -> bytes:
    """JPEG (or WebP) with no metadata at all (no EXIF, no profile: untagged means sRGB).

    Progressive, so a page's pictures show early, except the zoom image: the
    viewer swaps it in only once it is whole (gallery.js ``sharpen``; the
    display image stands in meanwhile), and as a baseline JPEG a 12 MP
    phone photo's 2560 x 1920 zoom image encoded in 26 ms instead of 56,
    for 1.3 % more bytes.
    """
    out = io.BytesIO()
    if webp:
        image.save(out, "WEBP", quality=quality)
    else:
        image.save(out, "JPEG", quality=quality, progressive=progressive, optimize=True)
    return out.getvalue()


def read_published(folder: Path, names: dict[str, str]) -> tuple[dict[str, tuple[int, int]], str]:
    """Pixel sizes (from the headers) and placeholder colour of derivatives already in ``folder``, by kind.

    Raises OSError or a decode error when one is unreadable: then it is made again.
    """
    sizes = {}
    for kind, name in names.items():
        with Image.open(folder / name, formats=("JPEG", "WEBP")) as image:
            sizes[kind] = image.size
    return sizes, encoded_color((folder / names["thumb"]).read_bytes())


def encoded_color(thumb: bytes) -> str:
    """The placeholder colour of an encoded thumbnail: read back from its bytes, so a build that finds it agrees."""
    with Image.open(io.BytesIO(thumb), formats=("JPEG",)) as image:
        return average_color(image)


def average_color(image: Image.Image) -> str:
    """The placeholder colour shown while a thumbnail loads."""
    pixel = image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return "#{:02x}{:02x}{:02x}".format(*pixel)
