"""Recompression of old masters: once per photo, atomically, only when it pays.

The seed re-encoded the same files on every run (each run lost quality
again) and wrote in place (a power cut in the middle destroyed the photo).
Here a JPEG master older than the cut-off is re-encoded once at
``maintenance.compress_quality`` with its EXIF (orientation included), ICC
profile and XMP kept; the result replaces the master atomically only when it
is at least 10% smaller, and ``compressed_at`` is recorded either way so the
photo is never looked at again. The new file carries a JPEG comment that
marks it as recompressed, so a crash between the replace and the row update
cannot lead to a second re-encode.

PNG, WebP and HEIC masters are left as they are and recorded as looked at:
PNG is lossless on purpose (screenshots, drawings) and WebP/HEIC are already
efficient; re-encoding them as JPEG would change their format and name. The
format is told by content, without decoding. A JPEG is decoded at full size,
so it takes its share of ``images.max_decode_mb`` like an upload's check does;
one too large for it is left as it is.

The ``sha256`` column keeps the hash of the uploaded bytes, which is what
duplicate detection compares new uploads with.
"""

from __future__ import annotations

import io
import math
import sqlite3
from datetime import datetime
from pathlib import Path

from PIL import Image

from jobgallery import db, images, storage
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError, NotFound
from jobgallery.locks import maintenance_lock
from jobgallery.maintenance.cutoff import older_than
from jobgallery.maintenance.reports import Report, human_size, reason
from jobgallery.progress import Progress

MIN_SAVING = 0.10
MARKER = b"recompressed by jobgallery"
ITEM_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, JobGalleryError)


class TooLargeToDecode(Exception):
    """The master's full decode would not fit in ``images.max_decode_mb``."""


def compress(
    config: Config,
    conn: sqlite3.Connection,
    older_than_days: int | None = None,
    progress: bool = False,
    now: datetime | None = None,
) -> Report:
    """Recompress every live master uploaded more than ``older_than_days`` ago and not yet looked at."""
    days = config.maintenance.compress_after_days if older_than_days is None else older_than_days
    report = Report("compress")
    candidates = db.images_to_compress(conn, older_than(days, now))
    with Progress(len(candidates) if progress else 0, "compress") as bar:
        for image in candidates:
            compress_locked(config, conn, image, report)
            bar.advance()
    return report


def compress_locked(config: Config, conn: sqlite3.Connection, image: db.Image, report: Report) -> None:
    """The lock is taken per photo, so the daemon's rebuilds are never held up for a whole run."""
    path = storage.master_path(config.paths.data, image.job_id, image.filename)
    with maintenance_lock(config.paths.data):
        if not still_due(conn, image.id):
            return
        try:
            compress_one(config, conn, image, report)
        except ITEM_ERRORS as exc:
            report.failed(str(path), reason(exc, str(path)))


def still_due(conn: sqlite3.Connection, image_id: int) -> bool:
    """Another run, a delete or an archive may have come first."""
    try:
        image = db.get_image(conn, image_id)
        return image.compressed_at is None and not db.get_job(conn, image.job_id).archived
    except NotFound:
        return False


# ---------------------------------------------------------------- one photo


def compress_one(config: Config, conn: sqlite3.Connection, image: db.Image, report: Report) -> None:
    path = storage.master_path(config.paths.data, image.job_id, image.filename)
    fmt = images.signature_format(path)
    if fmt != "JPEG":
        db.mark_compressed(conn, image.id, None)
        label = images.LABELS.get(fmt, "not a supported image")
        report.did("left as is (not JPEG)", f"left {path} as it is ({label})")
        return
    original = path.stat().st_size
    try:
        smaller = recompressed(path, config)
    except TooLargeToDecode as exc:
        db.mark_compressed(conn, image.id, None)
        report.did("left as is (too large to decode)", f"left {path} as it is: {exc}")
        return
    if smaller is None:
        db.mark_compressed(conn, image.id, original)
        report.did("already recompressed", f"{path} was already recompressed")
        return
    if len(smaller) > original * (1 - MIN_SAVING):
        db.mark_compressed(conn, image.id, None)
        report.did("kept (saving under 10%)", f"kept {path}: only {saving(original, len(smaller))} smaller")
        return
    storage.atomic_write(path, smaller)
    db.mark_compressed(conn, image.id, len(smaller))
    report.did("recompressed", f"recompressed {path}: {human_size(original)} -> {human_size(len(smaller))}")
    report.add_size("saved", original - len(smaller))


def recompressed(path: Path, config: Config) -> bytes | None:
    """The master re-encoded and checked, or None when its marker says that was done before.

    Both full decodes (the master's, then the new bytes') run inside the
    master's share of the decode budget, one after the other.
    """
    budget = config.images.max_decode_mb
    with images.open_image(path, config.images.max_pixels) as picture:
        if MARKER in picture.info.get("comment", b""):
            return None
        cost = images.decode_cost(picture, picture.size)
        if cost > budget * images.MIB:
            needed = math.ceil(cost / images.MIB)
            raise TooLargeToDecode(f"decoding it in full would take about {needed} MiB, over images.max_decode_mb")
        size = picture.size
        with images.DECODES.hold(cost, budget * images.MIB):
            try:
                smaller = reencode(picture, config.maintenance.compress_quality)
            except images.DECODE_ERRORS:
                raise JobGalleryError("the JPEG is damaged and cannot be decoded") from None
            picture.close()
            check_decodes(smaller, size)
    return smaller


def reencode(picture: Image.Image, quality: int) -> bytes:
    """The same pixels at a lower quality, with the metadata the master must keep."""
    comment = picture.info.get("comment", b"")
    keep = {key: picture.info[key] for key in ("exif", "icc_profile", "xmp", "dpi") if picture.info.get(key)}
    out = io.BytesIO()
    marked = comment + b"; " + MARKER if comment else MARKER
    picture.save(out, "JPEG", quality=quality, optimize=True, comment=marked, **keep)
    return out.getvalue()


def check_decodes(data: bytes, size: tuple[int, int]) -> None:
    """Never replace a master with something that does not decode to the same size."""
    with Image.open(io.BytesIO(data)) as picture:
        picture.load()
        if picture.size != size:
            raise ValueError(f"re-encoded image is {picture.size}, not {size}")


def saving(before: int, after: int) -> str:
    return f"{max(0, 1 - after / before):.0%}"
