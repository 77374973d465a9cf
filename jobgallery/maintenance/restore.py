"""Restore: bring an archived job back under its original id, with its rows and masters.

The whole archive is verified before anything is written (every member's
name, type and checksum). Masters are written first, each through an atomic
write that checks the checksum again before the rename; the rows and the
"live" state follow in one transaction. A master already in place is kept,
and rows already present stay as they are, so restoring twice is harmless.
A job id that belongs to another job in this database is a clash, and the
restore is refused before it changes anything.

A box rebuilt from a backup older than the archive may have given a photo's
id, or (rarely) its file name, to something else. Such a photo still comes
back, under a fresh id or a new file name, with a line saying so; a photo
whose bytes (sha256) the job already has is the same photo and is skipped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import tarfile
from pathlib import Path
from typing import NamedTuple

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
        planned = plan_photos(conn, contents, report)
        written = restore_masters(config, archive_file, contents, planned)
        moved = db.restore_job(conn, contents.job, [image for image, _ in planned])
    for image, _ in planned:
        if image.id in moved:
            line = f"photo {image.id} ({image.filename}) comes back as photo {moved[image.id]}: its id is another's now"
            report.did("photo{s} given a new id", line)
    job = db.get_job(conn, contents.job.id)
    present = len(planned) - written
    report.did("job{s} restored", f"restored job {job.id} ({job.title}) from {archive_file}")
    report.did("master{s} written", amount=written)
    report.did("master{s} already present", amount=present)
    return report, job


class Planned(NamedTuple):
    """A photo as it comes back (its file name may be new) and its member in the archive."""

    image: db.Image
    member: str


def check_no_clash(conn: sqlite3.Connection, contents: archive_format.Contents) -> None:
    """The same job (by id, token and creation time) may come back; a different one may not be overwritten."""
    job = contents.job
    try:
        current = db.get_job(conn, job.id)
    except NotFound:
        return
    if (current.token, current.created_at) != (job.token, job.created_at):
        raise Conflict(f"job {job.id} in this database is another job ({current.title!r}); restore refused")


def plan_photos(conn: sqlite3.Connection, contents: archive_format.Contents, report: Report) -> list[Planned]:
    """Each archived photo as it will come back; a photo the job already holds (same sha256) is left out."""
    rows = {image.filename: image for image in db.list_images(conn, contents.job.id)}
    taken = set(rows)
    planned = []
    for image in contents.images:
        member = archive_format.member_name(image.filename)
        if image.filename in rows and rows[image.filename].id == image.id:
            planned.append(Planned(image, member))
            continue
        same = db.find_by_hash(conn, image.job_id, image.sha256)
        if same is not None:
            line = f"skipped photo {image.id} ({image.filename}): the job has it as photo {same.id}"
            report.did("photo{s} already there", line)
            continue
        if image.filename not in taken:
            planned.append(Planned(image, member))
            continue
        name = free_name(image.filename, taken)
        taken.add(name)
        report.note(f"photo {image.id} ({image.filename}) comes back as {name}: another photo of the job has its name")
        planned.append(Planned(dataclasses.replace(image, filename=name), member))
    return planned


def free_name(filename: str, taken: set[str]) -> str:
    stem, dot, suffix = filename.rpartition(".")
    stem, dot = (stem, dot) if dot else (filename, "")
    number = 2
    while (name := f"{stem}-{number}{dot}{suffix if dot else ''}") in taken:
        number += 1
    return name


def restore_masters(
    config: Config, archive_file: Path, contents: archive_format.Contents, planned: list[Planned]
) -> int:
    """Write each missing master atomically; return how many were written."""
    written = 0
    with tarfile.open(archive_file, mode="r:") as tar:
        for image, name in planned:
            path = storage.master_path(config.paths.data, image.job_id, image.filename)
            target = storage.within(storage.masters_root(config.paths.data), path)
            if target.exists():
                continue
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
