"""One photo in: the only path by which a photo enters the system.

The steps, in the order that keeps every failure harmless:

1. check the user's text and that the job is live (nothing written yet);
2. stream the bytes into a temp file in the job's folder, hashing as they
   pass (never the whole file in memory), and fsync it;
3. a photo already in the job with the same hash is a duplicate: drop the
   temp, answer with the existing row;
4. prove by content that it is a whole, allowed image and read its EXIF
   (optionally shrink the master); given ``derivatives``, the pixels that
   check decoded are made into the photo's derivatives in the same pass;
5. in one write transaction: look for a duplicate again (two uploads of the
   same bytes at once), move the file into place durably, insert the row;
6. publish the derivatives made in step 4 under the row's id (a failure
   there is only logged: the next build makes them from the master).

A failure before step 5 removes the temp file; a failure in step 5 removes
the published file. A crash leaves at most a temp file or a file without a
row, both of which cleanup removes; never a row without its file. A job
folder made for an upload that stored nothing is removed again when empty
(``rmdir`` only: it fails harmlessly when another upload has a file there,
and an upload whose folder went away under it makes it again).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from jobgallery import db, images, storage, trash
from jobgallery.config import Config
from jobgallery.errors import EmptyUpload, JobGalleryError, TooLarge, UsageError
from jobgallery.location import BrowserLocation
from jobgallery.text import has_controls, is_utf8

log = logging.getLogger("jobgallery.ingest")

CHUNK = 1024 * 1024
# Tries at making a temp file when another process's refused uploads keep removing the job's new folder.
TEMP_TRIES = 5
# In this process, a job folder is only ever removed while nobody is between making it and opening a file in it.
_folders = threading.Lock()
MAX_DESCRIPTION = 2000
MAX_TAGS = 20
MAX_TAG_LENGTH = 50
ALLOWED_CONTROLS = "\n\t"


@dataclass(frozen=True)
class IngestResult:
    image: db.Image
    duplicate: bool


@dataclass(frozen=True)
class Staged:
    """Uploaded bytes copied under a temp name into the job's folder and fsynced; not yet checked."""

    temp: Path
    sha256: str
    byte_size: int


@dataclass(frozen=True)
class Prepared:
    """A staged upload proven to be a photo; ``temp`` holds the master to publish, ``made`` its derivatives."""

    temp: Path
    sha256: str
    byte_size: int
    info: images.PhotoInfo
    made: object = None


class Derivatives(images.PixelSink, Protocol):
    """Makes a photo's derivatives from its check's pixels, then publishes them (``generator.ingest_output``).

    Picklable: bulk import makes them in its worker processes.
    """

    def publish(self, conn: sqlite3.Connection, image: db.Image, made: object) -> None:
        """Write what ``take`` made for the stored ``image``; raises OSError or JobGalleryError."""


@dataclass(frozen=True)
class Details:
    """What the uploader says about a photo, already checked; ``place`` is used only when the EXIF has no GPS."""

    description: str = ""
    tags: str = ""
    uploaded_by: str | None = None
    place: BrowserLocation | None = None


# ---------------------------------------------------------------- the public entry points


def ingest_stream(
    config: Config,
    conn: sqlite3.Connection,
    job_id: int,
    stream: BinaryIO,
    *,
    description: str = "",
    tags: str = "",
    uploaded_by: str | None = None,
    max_bytes: int | None = None,
    place: BrowserLocation | None = None,
    derivatives: Derivatives | None = None,
) -> IngestResult:
    """Store one uploaded photo read from ``stream`` in job ``job_id``, or raise and store nothing.

    ``place`` is the phone's position from the browser, kept only when the photo's EXIF has no GPS.
    ``derivatives`` makes the photo's derivatives from the decode that checks it (decode once).
    """
    details = replace(clean_details(description, tags, uploaded_by), place=place)
    db.get_job(conn, job_id, live=True)
    folder = storage.job_folder(config.paths.data, job_id)
    fresh = not folder.is_dir()
    stored = False
    try:
        result = finish(config, conn, job_id, stage(folder, stream, max_bytes), details, derivatives)
        stored = not result.duplicate
        return result
    finally:
        if fresh and not stored:
            remove_folder_if_empty(folder)


def ingest_path(
    config: Config,
    conn: sqlite3.Connection,
    job_id: int,
    path: Path,
    *,
    description: str = "",
    tags: str = "",
    uploaded_by: str | None = None,
    derivatives: Derivatives | None = None,
) -> IngestResult:
    """Store the photo at ``path`` (which is copied, never moved) in job ``job_id``."""
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below, after the error mapping
    except OSError as exc:
        raise JobGalleryError(f"cannot read {path}: {exc.strerror or exc}") from None
    with stream:
        details = {"description": description, "tags": tags, "uploaded_by": uploaded_by}
        return ingest_stream(config, conn, job_id, stream, **details, derivatives=derivatives)


def finish(
    config: Config,
    conn: sqlite3.Connection,
    job_id: int,
    staged: Staged,
    details: Details,
    derivatives: Derivatives | None = None,
) -> IngestResult:
    """Steps 3 to 6 for a staged upload; the temp file is gone afterwards whatever happens."""
    try:
        existing = db.find_by_hash(conn, job_id, staged.sha256)
        if existing is None:
            limits = images.Limits.from_config(config)
            prepared = prepare(staged, limits, config.images.master_max_px, derivatives)
    except BaseException:
        discard(staged.temp)
        raise
    if existing is not None:
        discard(staged.temp)
        return found_again(conn, existing, details)
    return store(conn, job_id, prepared, details, derivatives)


def found_again(conn: sqlite3.Connection, existing: db.Image, details: Details) -> IngestResult:
    """A duplicate; or, when the photo was in the trash, the photo back on the site (not a duplicate)."""
    back = trash.back_on_upload(conn, existing, details.uploaded_by)
    return IngestResult(back, False) if back else IngestResult(existing, True)


# ---------------------------------------------------------------- checking the user's text


def clean_details(description: str | None, tags: str | None, uploaded_by: str | None = None) -> Details:
    """Refuse text that would not fit a gallery page; normalise line ends and spaces."""
    description = (description or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not is_utf8(description) or not is_utf8(tags or ""):
        raise UsageError("descriptions and tags must be valid Unicode text")
    if len(description) > MAX_DESCRIPTION:
        raise UsageError(f"a description may have at most {MAX_DESCRIPTION} characters")
    if has_controls(description, ALLOWED_CONTROLS):
        raise UsageError("a description may not contain control characters")
    tag_list = [" ".join(tag.split()) for tag in db.split_tags(tags or "")]
    if len(tag_list) > MAX_TAGS:
        raise UsageError(f"a photo may have at most {MAX_TAGS} tags")
    if any(len(tag) > MAX_TAG_LENGTH for tag in tag_list):
        raise UsageError(f"a tag may have at most {MAX_TAG_LENGTH} characters")
    if any(has_controls(tag) for tag in tag_list):
        raise UsageError("a tag may not contain control characters")
    return Details(description, ",".join(tag_list), uploaded_by)


# ---------------------------------------------------------------- step 2: bytes to a temp file


def stage(folder: Path, stream: BinaryIO, max_bytes: int | None = None) -> Staged:
    """Copy ``stream`` in chunks to a fsynced temp file in ``folder``, hashing as it goes."""
    chunk = stream.read(CHUNK)
    if not chunk:
        raise EmptyUpload("the file is empty")
    temp, handle = create_temp(folder)
    digest = hashlib.sha256()
    size = 0
    try:
        with handle:
            while chunk:
                size += len(chunk)
                if max_bytes is not None and size > max_bytes:
                    raise TooLarge(f"the file is larger than {max_bytes} bytes")
                digest.update(chunk)
                handle.write(chunk)
                chunk = stream.read(CHUNK)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        discard(temp)
        raise
    return Staged(temp, digest.hexdigest(), size)


def create_temp(folder: Path) -> tuple[Path, BinaryIO]:
    """A new temp file in ``folder``, made with the folder if need be, and again if it went away meanwhile."""
    tries = 1
    while True:
        try:
            with _folders:
                temp = storage.temp_path(storage.ensure_dir(folder, private=True))
                return temp, storage.create_file(temp)
        except (FileNotFoundError, FileExistsError):
            # Another process removed the folder between ensure_dir and open (or inside ensure_dir).
            if tries == TEMP_TRIES:
                raise
            tries += 1


def remove_folder_if_empty(folder: Path) -> bool:
    """Remove a job folder that holds nothing; False (and no harm) when another upload put a file there."""
    try:
        with _folders:
            folder.rmdir()
    except OSError:
        return False
    storage.fsync_dir(folder.parent)
    return True


def discard(temp: Path) -> None:
    """Remove a temp file that will never be published (already gone is fine)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp)


# ---------------------------------------------------------------- step 4: prove it is a photo


def prepare(
    staged: Staged, limits: images.Limits, master_max_px: int = 0, derivatives: Derivatives | None = None
) -> Prepared:
    """Validate and read a staged file; with ``master_max_px``, swap in a smaller master.

    ``derivatives`` gets the pixels the check decodes; a master shrunk here is
    decoded once more, so its derivatives are those a build would make of it.
    Needs no database, so bulk import runs it in worker processes. On
    success only ``Prepared.temp`` is left; on failure only ``staged.temp``.
    """
    info, made = images.inspect_pixels(staged.temp, limits, derivatives)
    if not master_max_px or max(info.width, info.height) <= master_max_px:
        return Prepared(staged.temp, staged.sha256, staged.byte_size, info, made)
    prepared = shrink(staged, info, limits, master_max_px)
    if derivatives is None:
        return prepared
    try:
        return replace(prepared, made=images.inspect_pixels(prepared.temp, limits, derivatives)[1])
    except BaseException:
        discard(prepared.temp)
        raise


def shrink(staged: Staged, info: images.PhotoInfo, limits: images.Limits, master_max_px: int) -> Prepared:
    """Write the smaller master beside the staged file, then drop the staged one.

    The hash stays that of the bytes as uploaded, so uploading the original
    again is still recognised as a duplicate.
    """
    smaller = storage.temp_path(staged.temp.parent)
    try:
        with storage.create_file(smaller) as handle:
            width, height = images.shrink_master(staged.temp, handle, master_max_px, limits)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        discard(smaller)
        raise
    discard(staged.temp)
    if info.orientation in images.QUARTER_TURNS:
        width, height = height, width
    return Prepared(smaller, staged.sha256, smaller.stat().st_size, replace(info, width=width, height=height))


# ---------------------------------------------------------------- step 5: file, then row


def master_name(sha256: str, extension: str, now: datetime | None = None) -> str:
    """``img_<YYYYmmdd_HHMMSS>_<12 hex of sha256>.<ext>``, upload time in UTC.

    Two names can only meet for the same second and the same 48-bit hash
    prefix, in practice only for the same bytes, which dedupe turns away first.
    """
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d_%H%M%S")
    return f"img_{stamp}_{sha256[:12]}.{extension}"


def store(
    conn: sqlite3.Connection,
    job_id: int,
    prepared: Prepared,
    details: Details,
    derivatives: Derivatives | None = None,
) -> IngestResult:
    """Publish the master and insert its row in one write transaction; undo the file if the row fails.

    Then the derivatives made with the check, if any: they are named by the
    row's id, so they can only be written once it exists.
    """
    target = prepared.temp.parent / master_name(prepared.sha256, prepared.info.extension)
    published = False
    try:
        with db.write(conn):
            db.get_job(conn, job_id, live=True)
            existing = db.find_by_hash(conn, job_id, prepared.sha256)
            if existing is None:
                storage.publish_file(prepared.temp, target)
                published = True
                image_id = db.add_image(conn, **row_values(job_id, target.name, prepared, details))
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if published:
            storage.remove_file(target)
        else:
            discard(prepared.temp)
        raise
    if existing is not None:
        discard(prepared.temp)
        log.debug("job %d: %s is already stored as %s", job_id, prepared.sha256[:12], existing.filename)
        return found_again(conn, existing, details)
    image = db.get_image(conn, image_id)
    log.info(
        "job %d: stored %s (%s %dx%d, %d bytes)",
        job_id,
        image.filename,
        prepared.info.format,
        image.width,
        image.height,
        image.byte_size,
    )
    if derivatives is not None and prepared.made is not None:
        publish_derivatives(conn, derivatives, image, prepared.made)
    return IngestResult(image, False)


def publish_derivatives(conn: sqlite3.Connection, derivatives: Derivatives, image: db.Image, made: object) -> None:
    """Step 6: the photo is stored whatever happens here; what is not written now, the next build makes."""
    try:
        derivatives.publish(conn, image, made)
    except (OSError, JobGalleryError) as exc:
        log.warning("job %d: derivatives of %s left to the build: %s", image.job_id, image.filename, exc)


def row_values(job_id: int, filename: str, prepared: Prepared, details: Details) -> dict:
    info = prepared.info
    return location_values(info.location, details.place) | {
        "job_id": job_id,
        "filename": filename,
        "description": details.description,
        "tags": details.tags,
        "sha256": prepared.sha256,
        "byte_size": prepared.byte_size,
        "width": info.width,
        "height": info.height,
        "taken_at": info.taken_at,
        "taken_offset": info.taken_offset,
        "uploaded_by": details.uploaded_by,
    }


def location_values(from_exif: str | None, from_browser: BrowserLocation | None) -> dict:
    """The row's position and where it came from: the camera's GPS wins over the browser's."""
    if from_exif is not None:
        return {"location": from_exif, "location_source": "camera", "location_accuracy_m": None}
    if from_browser is not None:
        return {
            "location": from_browser.text,
            "location_source": "browser",
            "location_accuracy_m": from_browser.accuracy_m,
        }
    return {"location": None, "location_source": None, "location_accuracy_m": None}
