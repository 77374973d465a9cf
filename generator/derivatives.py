"""Derivative images: the display image and the two thumbnails a gallery page shows.

Masters are untrusted originals of any size and format. A JPEG is decoded at
reduced scale (``draft``) just above the display size, which is where most of
the time and memory goes; the thumbnails are made from the display pixels, not
from the master. Orientation is applied to the pixels, and of the master's
metadata only its ICC profile is written, so no EXIF (GPS, camera serial)
leaves ``data/``.

Each file's name carries a hash of the master's content and of the settings
that made it, so a name always means the same bytes and can be cached forever.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

from jobgallery.errors import JobGalleryError
from jobgallery.images import DECODE_ERRORS, Limits, decoding, enable_heif, format_of, open_image
from jobgallery.storage import atomic_write

# Bump when a change in this module alters the bytes of derivatives.
PIPELINE = 1

KINDS = ("display", "thumb", "thumb2x")

# What Pillow raises for a file it cannot read; a photo that fails is reported, the build goes on.
FAILURES = (*DECODE_ERRORS, MemoryError)

# The JPEG decoder's reduced scale already filtered the master, leaving a step under 2x for which
# bicubic looks the same as Lanczos at two thirds of the cost; thumbnails, where detail shows, use Lanczos.
DISPLAY_FILTER = Image.Resampling.BICUBIC
THUMB_FILTER = Image.Resampling.LANCZOS

# Modes whose ICC profile still describes the pixels after we convert them to RGB or L.
ICC_SAFE_MODES = ("RGB", "RGBA", "RGBX", "L", "LA", "P", "PA")


# ---------------------------------------------------------------- names


@dataclass(frozen=True)
class Recipe:
    """The settings that decide derivatives' bytes (and so their names)."""

    display_size: int
    display_quality: int
    thumb_size: int
    thumb_quality: int

    @classmethod
    def from_config(cls, config) -> Recipe:
        images = config.images
        return cls(images.display_size, images.display_quality, images.thumb_size, images.thumb_quality)

    def long_edge(self, kind: str) -> int:
        return {"display": self.display_size, "thumb": self.thumb_size, "thumb2x": 2 * self.thumb_size}[kind]

    def quality(self, kind: str) -> int:
        return self.display_quality if kind == "display" else self.thumb_quality

    def params(self, kind: str) -> str:
        """Everything the bytes of ``kind`` depend on besides the master (thumbnails come from display pixels)."""
        if kind == "display":
            return f"d{self.display_size}q{self.display_quality}"
        return f"d{self.display_size}t{self.long_edge(kind)}q{self.thumb_quality}"


def derivative_name(image_id: int, sha256: str, kind: str, recipe: Recipe) -> str:
    """Content-addressed file name: the same name always holds the same bytes."""
    digest = hashlib.sha256(name_seed(recipe, kind) + sha256.encode()).hexdigest()[:20]
    return f"{image_id}-{kind}-{digest}.jpg"


@functools.cache
def name_seed(recipe: Recipe, kind: str) -> bytes:
    """The part of a name's hash input that is the same for every photo (a site build names thousands)."""
    return f"{PIPELINE}:{kind}:{recipe.params(kind)}:".encode()


def fit(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """``size`` scaled down (never up) so that its long edge is at most ``long_edge``."""
    width, height = size
    scale = long_edge / max(width, height)
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


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


@dataclass
class PhotoResult:
    """Sizes of what was written, the placeholder colour, or why nothing was."""

    image_id: int
    filename: str
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    color: str | None = None
    error: str | None = None


def make_photo(task: PhotoTask) -> PhotoResult:
    """Write the task's derivatives; a bad master gives a result with ``error`` set instead of raising."""
    try:
        sizes, color = write_derivatives(task)
    except (JobGalleryError, OutputError) as exc:
        return PhotoResult(task.image_id, task.filename, error=str(exc))
    except FAILURES as exc:
        return PhotoResult(task.image_id, task.filename, error=describe_error(exc))
    return PhotoResult(task.image_id, task.filename, sizes, color)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "master file is missing"
    if isinstance(exc, MemoryError):
        return "not enough memory to decode the image"
    text = str(exc).split("\n")[0]
    return f"cannot decode image: {text}" if text else f"cannot decode image ({type(exc).__name__})"


def write_derivatives(task: PhotoTask) -> tuple[dict[str, tuple[int, int]], str | None]:
    display, icc = load_display(Path(task.master), task.recipe.display_size, task.limits)
    sizes: dict[str, tuple[int, int]] = {}
    color = None
    for kind, name in task.outputs:
        image = display if kind == "display" else shrink(display, task.recipe.long_edge(kind))
        publish(Path(task.folder) / name, encode(image, task.recipe.quality(kind), icc))
        sizes[kind] = image.size
        if kind == "thumb":
            color = average_color(image)
    return sizes, color


class OutputError(Exception):
    """A derivative could not be written (disk full, permissions): not the master's fault."""


def publish(path: Path, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {path.name} to the output folder: {exc.strerror or exc}") from None


# ---------------------------------------------------------------- pixels


def load_display(path: Path, display_size: int, limits: Limits) -> tuple[Image.Image, bytes | None]:
    """The master's pixels at display size, upright, in RGB or L, with its ICC profile when still valid.

    The decode takes its share of the process's decode budget, like an
    upload's check: a master stored before a lower budget was set fails
    this photo instead of exhausting the box's memory.
    """
    enable_heif()
    with open_image(path, limits.max_pixels) as master:
        full_size = master.size
        target = fit(master.size, display_size)
        box = (0.0, 0.0, float(master.width), float(master.height))
        drafted = master.draft(None, target) if format_of(master) == "JPEG" else None
        if drafted:
            box = tuple(float(v) for v in drafted[1])
        icc = master.info.get("icc_profile") if master.mode in ICC_SAFE_MODES else None
        with decoding(master, full_size, limits.max_decode_mb):  # held until the full-size pixels are gone
            master.load()
            image = resizable(master)
            if image.size == target and box == (0.0, 0.0, float(image.width), float(image.height)):
                image = image.copy()
            else:
                image = resize_lean(image, master, target, box)
    image = ImageOps.exif_transpose(image)
    return flatten(image), icc or None


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
    """A mode that resizes well (palette and odd modes resize badly or not at all); keeps ``info``."""
    if image.mode in ("RGB", "L", "RGBA", "LA"):
        return image
    if image.mode in ("P", "PA"):
        has_alpha = image.mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")


def flatten(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: put transparent pixels on white; drop every ``info`` entry."""
    if image.mode in ("RGBA", "LA"):
        opaque_mode = image.mode[:-1]
        background = Image.new(opaque_mode, image.size, (255,) * len(opaque_mode))
        background.paste(image.convert(opaque_mode), mask=image.getchannel("A"))
        image = background
    image.info = {}
    return image


def shrink(image: Image.Image, long_edge: int) -> Image.Image:
    target = fit(image.size, long_edge)
    if target == image.size:
        return image
    resized = image.resize(target, THUMB_FILTER)
    resized.info = {}
    return resized


def encode(image: Image.Image, quality: int, icc: bytes | None) -> bytes:
    """Progressive JPEG with no metadata but the ICC profile."""
    out = io.BytesIO()
    params = {"quality": quality, "progressive": True, "optimize": True}
    if icc:
        params["icc_profile"] = icc
    image.save(out, "JPEG", **params)
    return out.getvalue()


def average_color(image: Image.Image) -> str:
    """The placeholder colour shown while a thumbnail loads."""
    pixel = image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    return "#{:02x}{:02x}{:02x}".format(*pixel)
