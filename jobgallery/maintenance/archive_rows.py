"""Checking the rows an archive's manifest carries, exactly like what a user types.

An archive is a file an admin was handed: its checksums prove only that it
is whole, not that whoever wrote it was us. Every field that becomes a row
goes through the same rules as the form and the CLI (titles, descriptions,
tags, user names), and every field that becomes a path or an id must look
exactly like what this program makes (slugs, tokens, master file names,
hashes, ISO time stamps). One bad field refuses the whole archive with an
ArchiveError naming it; nothing is changed.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

from jobgallery import capture_time, db, jobs, location, users
from jobgallery.errors import ArchiveError, JobGalleryError
from jobgallery.ingest import clean_details
from jobgallery.text import has_controls

# Master names: ``img_<stamp>_<hash>.<ext>``, or a name restore gave it (``-2``); plain ASCII always.
MASTER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,150}\.(?:jpg|png|webp|heic)")
SHA256 = re.compile(r"[0-9a-f]{64}")
LOCATION = re.compile(r"-?\d{1,3}\.\d{1,8},-?\d{1,3}\.\d{1,8}")
LOCATION_SOURCES = ("camera", "browser")
MAX_STAMP = 40
MAX_NUMBER = 2**31
INT_FIELDS = ("byte_size", "width", "height")
STAMP_FIELDS = ("timestamp", "taken_at", "compressed_at")


def check_job(job: db.Job) -> db.Job:
    """The job as the archive describes it, refused unless each field is one ``create_job`` could have made."""
    if type(job.id) is not int or not db.valid_id(job.id):
        raise ArchiveError(f"the archive's job id {job.id!r} is not a job id")
    checked_text("title", job.title, jobs.clean_title)
    if not db.valid_slug(job.slug):
        raise ArchiveError(f"the archive's job slug {str(job.slug)[:80]!r} is not a slug this program makes")
    if not db.valid_token(job.token):
        raise ArchiveError(f"the archive's job token {str(job.token)[:80]!r} is not a token this program makes")
    check_stamp("created_at", job.created_at, required=True)
    check_stamp("archived_at", job.archived_at)
    if type(job.image_count) is not int:
        raise ArchiveError("the archive's job has a bad image count")
    return job


def check_image(image: db.Image, job_id: int) -> db.Image:
    """One photo row, refused unless every field is one an upload could have stored."""
    for name in ("id", "job_id"):
        value = getattr(image, name)
        if type(value) is not int or not db.valid_id(value):
            raise ArchiveError(f"a photo in the archive has a bad {name}: {value!r}")
    if image.job_id != job_id:
        raise ArchiveError(f"photo {image.id} in the archive belongs to job {image.job_id}, not {job_id}")
    if not isinstance(image.filename, str) or not MASTER_NAME.fullmatch(image.filename):
        raise ArchiveError(f"photo {image.id} in the archive has a file name this program never makes")
    if not isinstance(image.sha256, str) or not SHA256.fullmatch(image.sha256):
        raise ArchiveError(f"photo {image.id} in the archive has a malformed sha256")
    for name in INT_FIELDS:
        value = getattr(image, name)
        if type(value) is not int or not 0 <= value < MAX_NUMBER:
            raise ArchiveError(f"photo {image.id} in the archive has a bad {name}: {str(value)[:40]!r}")
    for name in STAMP_FIELDS:
        check_stamp(name, getattr(image, name), required=name == "timestamp")
    if image.deleted_at is not None:
        raise ArchiveError(f"photo {image.id} in the archive is marked deleted; archives never hold the trash")
    check_capture_time(image)
    check_details(image)
    return check_location(image)


def check_capture_time(image: db.Image) -> None:
    """A wall time without a zone in ``taken_at``, its offset (``+01:00``) apart, as ingest stores them."""
    if image.taken_at is not None and capture_time.wall_time(image.taken_at) is None:
        raise ArchiveError(f"photo {image.id} in the archive has a capture time with a zone in it")
    if not capture_time.valid_offset(image.taken_offset):
        raise ArchiveError(f"photo {image.id} in the archive has a malformed capture time offset")


def check_details(image: db.Image) -> None:
    """Description and tags by the upload form's rules; location and uploader by the shapes we store."""
    if not isinstance(image.description, str) or not isinstance(image.tags, str):
        raise ArchiveError(f"photo {image.id} in the archive has a description or tags that are not text")
    try:
        details = clean_details(image.description, image.tags)
    except JobGalleryError as exc:
        raise ArchiveError(f"photo {image.id} in the archive: {exc}") from None
    if (details.description, details.tags) != (image.description, db.normalize_tags(image.tags)):
        raise ArchiveError(f"photo {image.id} in the archive has a description or tags an upload would not store")
    if image.uploaded_by is not None:
        checked_text("uploaded_by", image.uploaded_by, users.check_name)


def check_location(image: db.Image) -> db.Image:
    """Position, its source and its accuracy by the upload path's rules (``jobgallery.location``).

    No position means no source and no accuracy. A position is ``"lat,lon"``
    in range; its source is ``camera`` or ``browser``, and only a browser's
    carries an accuracy. A row from before sources were kept (no source with
    a position) comes back as ``camera``, as the database's migration made it.
    """
    if image.location is None:
        if image.location_source is not None or image.location_accuracy_m is not None:
            raise ArchiveError(f"photo {image.id} in the archive has a location source or accuracy but no location")
        return image
    if not (isinstance(image.location, str) and LOCATION.fullmatch(image.location)):
        raise ArchiveError(f"photo {image.id} in the archive has a malformed location")
    latitude, longitude = image.location.split(",")
    source = "camera" if image.location_source is None else image.location_source
    if source not in LOCATION_SOURCES:
        raise ArchiveError(f"photo {image.id} in the archive has a location source we never store")
    accuracy = image.location_accuracy_m
    if accuracy is not None and (source != "browser" or type(accuracy) not in (int, float)):
        raise ArchiveError(f"photo {image.id} in the archive has a malformed location accuracy")
    try:
        location.degrees(latitude, "latitude", 90.0)
        location.degrees(longitude, "longitude", 180.0)
        if accuracy is not None:
            location.accuracy(float(accuracy))
    except JobGalleryError as exc:
        raise ArchiveError(f"photo {image.id} in the archive has a location an upload would refuse: {exc}") from None
    return dataclasses.replace(image, location_source=source)


def checked_text(name: str, value: object, clean) -> None:
    """``value`` must come out of ``clean`` (the validator users face) unchanged."""
    try:
        ok = isinstance(value, str) and clean(value) == value
    except JobGalleryError as exc:
        raise ArchiveError(f"the archive's {name} is refused: {exc}") from None
    if not ok:
        raise ArchiveError(f"the archive's {name} {str(value)[:80]!r} is not one this program would store")


def check_stamp(name: str, value: object, required: bool = False) -> None:
    """An ISO 8601 time stamp as we store them (``None`` only where the column allows it).

    Its instant must also exist in UTC: year 1 east of Greenwich or year 9999
    west of it overflows every later comparison (the build would fail for
    every job, not just this one).
    """
    if value is None and not required:
        return
    if not isinstance(value, str) or len(value) > MAX_STAMP or has_controls(value) or not value.isascii():
        raise ArchiveError(f"the archive's {name} is not a time stamp")
    try:
        moment = datetime.fromisoformat(value)
        if moment.utcoffset() is not None:
            moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ArchiveError(f"the archive's {name} {value!r} is not a time stamp") from None
