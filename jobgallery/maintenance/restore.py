"""Restore: bring an archived job back under its original id, with its rows and masters.

The whole archive is verified before anything is written (every member's
name, type and checksum). Masters are written first, each through an atomic
write that checks the checksum again before the rename; the rows and the
"live" state follow in one transaction. A master already in place is kept,
and rows already present stay as they are, so restoring twice is harmless.
A job or photo id that belongs to something else in this database is a
clash, and the restore is refused before it changes anything.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tarfile
from pathlib import Path

from jobgallery import db, storage
from jobgallery.config import Config
from jobgallery.errors import ArchiveError, Conflict, NotFound
from jobgallery.locks import maintenance_lock
from jobgallery.maintenance import archive_format
from jobgallery.maintenance.reports import Report


def restore(config: Config, conn: sqlite3.Connection, archive_file: Path) -> tuple[Report, db.Job]:
    """Verify ``archive_file`` and put its job back; return the report and the restored job."""
    report = Report("restore")
    with maintenance_lock(config.paths.data):
        contents = archive_format.verify_archive(archive_file)
        check_no_clash(conn, contents)
        written = restore_masters(config, archive_file, contents)
        db.restore_job(conn, contents.job, contents.images)
    job = db.get_job(conn, contents.job.id)
    present = len(contents.images) - written
    report.did("job{s} restored", f"restored job {job.id} ({job.title}) from {archive_file}")
    report.did("master{s} written", amount=written)
    report.did("master{s} already present", amount=present)
    return report, job


def check_no_clash(conn: sqlite3.Connection, contents: archive_format.Contents) -> None:
    """The same job (by id, token and creation time) may come back; a different one may not be overwritten."""
    job = contents.job
    try:
        current = db.get_job(conn, job.id)
    except NotFound:
        current = None
    if current is not None and (current.token, current.created_at) != (job.token, job.created_at):
        raise Conflict(f"job {job.id} in this database is another job ({current.title!r}); restore refused")
    by_name = {image.filename: image.id for image in db.list_images(conn, job.id)}
    for image in contents.images:
        if by_name.get(image.filename, image.id) != image.id or other_owner(conn, image):
            raise Conflict(f"photo {image.id} ({image.filename}) clashes with a different row; restore refused")


def other_owner(conn: sqlite3.Connection, image: db.Image) -> bool:
    try:
        current = db.get_image(conn, image.id)
    except NotFound:
        return False
    return (current.job_id, current.filename) != (image.job_id, image.filename)


def restore_masters(config: Config, archive_file: Path, contents: archive_format.Contents) -> int:
    """Write each missing master atomically; return how many were written."""
    written = 0
    with tarfile.open(archive_file, mode="r:") as tar:
        for image in contents.images:
            target = storage.master_path(config.paths.data, image.job_id, image.filename)
            if target.exists():
                continue
            name = archive_format.member_name(image.filename)
            copy_checked(tar.extractfile(name), target, contents.sums[name])
            written += 1
    return written


def copy_checked(source, target: Path, expected: str) -> None:
    """The rename happens only when the bytes written hash to the archive's checksum."""
    digest = hashlib.sha256()
    with storage.atomic_writer(target) as handle:
        while chunk := source.read(archive_format.CHUNK):
            digest.update(chunk)
            handle.write(chunk)
        if digest.hexdigest() != expected:
            raise ArchiveError(f"{target.name} changed while it was restored: the archive is damaged")
