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
efficient; re-encoding them as JPEG would change their format and name.

The ``sha256`` column keeps the hash of the uploaded bytes, which is what
duplicate detection compares new uploads with.
"""

from __future__ import annotations

import io
import sqlite3
from datetime import datetime

from PIL import Image

from jobgallery import db, storage
from jobgallery.config import Config
from jobgallery.errors import JobGalleryError, NotFound
from jobgallery.locks import maintenance_lock
from jobgallery.maintenance.cutoff import older_than
from jobgallery.maintenance.reports import Report, human_size, reason
from jobgallery.progress import Progress

MIN_SAVING = 0.10
MARKER = b"recompressed by jobgallery"
ITEM_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError, JobGalleryError)


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
            report.failed(str(path), reason(exc))


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
    original = path.read_bytes()
    with Image.open(io.BytesIO(original)) as picture:
        if picture.format != "JPEG":
            db.mark_compressed(conn, image.id, None)
            report.did("left as is (not JPEG)", f"left {path} as it is ({picture.format})")
            return
        if MARKER in picture.info.get("comment", b""):
            db.mark_compressed(conn, image.id, len(original))
            report.did("already recompressed", f"{path} was already recompressed")
            return
        smaller = reencode(picture, config.maintenance.compress_quality)
    if len(smaller) > len(original) * (1 - MIN_SAVING):
        db.mark_compressed(conn, image.id, None)
        report.did("kept (saving under 10%)", f"kept {path}: only {saving(original, smaller)} smaller")
        return
    check_decodes(smaller, picture.size)
    storage.atomic_write(path, smaller)
    db.mark_compressed(conn, image.id, len(smaller))
    report.did("recompressed", f"recompressed {path}: {human_size(len(original))} -> {human_size(len(smaller))}")
    report.add_size("saved", len(original) - len(smaller))


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


def saving(before: bytes, after: bytes) -> str:
    return f"{max(0, 1 - len(after) / len(before)):.0%}"
